package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// worker delivers one sink's queue, one event at a time, oldest first.
type worker struct {
	sink Sink
	q    *queue
	d    *Dispatcher
}

// run takes events off the queue until stop ends and the queue is empty.
// Deliveries use send, which outlives stop by the flush timeout; when send
// ends, what is left is dropped.
func (w *worker) run(stop, send context.Context) {
	for {
		e, n, ok := w.q.pop()
		if !ok {
			if stop.Err() != nil {
				return
			}
			select {
			case <-w.q.ready:
			case <-stop.Done():
			}
			continue
		}
		w.d.m.queued.WithLabelValues(w.sink.Name).Set(float64(n))
		if send.Err() != nil {
			w.dropAtShutdown(append([]Event{e}, w.q.drain()...))
			return
		}
		w.deliver(send, e)
	}
}

// deliver posts e until it is accepted, refused for good, out of attempts,
// or ctx ends.
func (w *worker) deliver(ctx context.Context, e Event) {
	log := w.d.o.log.With("sink", w.sink.Name, "event", e.Kind, "change", e.Version, "id", e.ID)
	body, err := Body(w.sink.Format, e)
	if err != nil {
		w.d.m.sent.WithLabelValues(w.sink.Name, resultFailed).Inc()
		log.Error("alert not delivered: cannot render", "err", err)
		return
	}
	for attempt := 1; ; attempt++ {
		retryAfter, err := w.attempt(ctx, e, body)
		if err == nil {
			w.d.m.sent.WithLabelValues(w.sink.Name, resultDelivered).Inc()
			log.Info("alert delivered", "attempts", attempt)
			return
		}
		if ctx.Err() != nil {
			w.dropAtShutdown([]Event{e})
			return
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= w.sink.MaxAttempts {
			w.d.m.sent.WithLabelValues(w.sink.Name, resultFailed).Inc()
			log.Warn("alert not delivered", "attempts", attempt, "err", w.d.o.scrub(err.Error()))
			return
		}
		wait := max(w.backoff(attempt), min(retryAfter, maxRetryAfter))
		log.Debug("alert delivery failed; retrying", "attempt", attempt, "in", wait, "err", w.d.o.scrub(err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			w.dropAtShutdown([]Event{e})
			return
		}
	}
}

// permanentError is a refusal retrying cannot change (a 4xx other than
// 408, 425 and 429, a redirect).
type permanentError struct {
	status int
	msg    string
}

func (e *permanentError) Error() string {
	switch {
	case e.msg != "":
		return e.msg
	case e.status >= 300 && e.status < 400:
		return fmt.Sprintf("status %d: redirects are not followed (not retried)", e.status)
	}
	return fmt.Sprintf("status %d (not retried)", e.status)
}

// attempt posts body once. It returns the receiver's Retry-After (0 if
// none) and nil on a 2xx.
func (w *worker) attempt(ctx context.Context, e Event, body []byte) (time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, w.sink.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, w.sink.URL, bytes.NewReader(body))
	if err != nil {
		return 0, &permanentError{msg: "cannot build the request"} // never quote the URL
	}
	now := w.d.o.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "schemacanary")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderEventID, e.ID)
	req.Header.Set(HeaderEventKind, string(e.Kind))
	if len(w.sink.Secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(w.sink.Secret, now, body))
	}
	resp, err := w.d.o.client.Do(req)
	if err != nil {
		if errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, fmt.Errorf("no response within %s", w.sink.Timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL, which may hold a token
		}
		return 0, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drained only to reuse the connection
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return 0, nil
	case c == http.StatusRequestTimeout, c == http.StatusTooEarly, c == http.StatusTooManyRequests, c >= 500:
		return retryAfter(resp.Header.Get("Retry-After"), now), fmt.Errorf("status %d", c)
	default:
		return 0, &permanentError{status: c}
	}
}

// backoff is the delay after failed attempt n (1, 2, …): the first delay
// doubled per attempt, capped, then jittered by ±50%.
func (w *worker) backoff(n int) time.Duration {
	d := w.d.o.backoff
	for i := 1; i < n && d < w.d.o.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.d.o.maxBackoff)
	return d/2 + rand.N(d)
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// dropAtShutdown counts and logs events left unsent when the flush ended.
func (w *worker) dropAtShutdown(events []Event) {
	if len(events) == 0 {
		return
	}
	w.d.m.dropped.WithLabelValues(w.sink.Name, dropShutdown).Add(float64(len(events)))
	w.d.m.queued.WithLabelValues(w.sink.Name).Set(0)
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	w.d.o.log.Warn("alerts not delivered before shutdown", "sink", w.sink.Name, "count", len(events), "ids", ids)
}
