package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-github/v60/github"
)

// call runs one API request, waiting out rate limits: a primary limit
// (403/429 with X-RateLimit-Remaining: 0) until X-RateLimit-Reset, a
// secondary limit (403/429 with Retry-After) for Retry-After. A wait longer
// than maxWait, or more than tries attempts, fails with ErrRateLimited.
// Waits end early when ctx is done.
func (g *GitHub) call(ctx context.Context, op string, fn func() (*github.Response, error)) error {
	for attempt := 1; ; attempt++ {
		_, err := fn()
		if err == nil {
			return nil
		}
		wait, limited := rateLimitWait(err)
		if !limited {
			return err
		}
		if wait > g.maxWait || attempt >= g.tries {
			return fmt.Errorf("%s: %w: would wait %s (limit %s, attempt %d): %v", op, ErrRateLimited, wait.Round(time.Second), g.maxWait, attempt, err)
		}
		g.log.Warn("github rate limited; waiting", "op", op, "wait", wait.Round(time.Millisecond), "attempt", attempt)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: waiting for rate limit: %w", op, ctx.Err())
		case <-t.C:
		}
	}
}

// rateLimitWait reports whether err is a rate limit and how long to wait.
func rateLimitWait(err error) (time.Duration, bool) {
	const margin = 250 * time.Millisecond
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		return max(time.Until(rl.Rate.Reset.Time), 0) + margin, true
	}
	var ab *github.AbuseRateLimitError
	if errors.As(err, &ab) {
		if ab.RetryAfter != nil {
			return max(*ab.RetryAfter, 0) + margin, true
		}
		return time.Minute, true // GitHub: wait at least one minute
	}
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusTooManyRequests {
		h := er.Response.Header
		if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil {
			return time.Duration(s)*time.Second + margin, true
		}
		if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && h.Get("X-RateLimit-Remaining") == "0" {
			return max(time.Until(time.Unix(s, 0)), 0) + margin, true
		}
		return time.Minute, true
	}
	return 0, false
}
