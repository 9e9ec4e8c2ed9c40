package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const testSecret = "s3cret-hmac-key"

// start runs d until the test ends (then flushes).
func start(t *testing.T, d *Dispatcher) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

func newDispatcher(t *testing.T, sinks []Sink, opts ...Option) *Dispatcher {
	t.Helper()
	opts = append([]Option{WithBackoff(10*time.Millisecond, 50*time.Millisecond)}, opts...)
	d, err := New(sinks, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func event(k Kind, v int64) Event {
	c := 0.42
	return Event{ID: fmt.Sprintf("%d.%d", v, len(k)), Kind: k, Version: v, File: fmt.Sprintf("migrations/%05d_x.sql", v),
		State: string(k), Wave: 1, Reason: "because <reasons> & more", Confidence: &c, PR: 7,
		Time: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
}

func count(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// eventually waits up to 15 s for c to reach want (the receiver records a
// delivery before its response reaches the dispatcher).
func eventually(t *testing.T, c prometheus.Collector, want float64) float64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for count(c) < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return count(c)
}

// TestEveryKindReachesTheReceiverSigned sends one event of each kind to a
// real receiver that checks every signature and timestamp.
func TestEveryKindReachesTheReceiverSigned(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, testSecret)
	reg := prometheus.NewRegistry()
	d := newDispatcher(t, []Sink{{Name: "ops", URL: rcv.srv.URL, Secret: []byte(testSecret)}},
		WithRegisterer(reg), WithStatusURL("https://canary.example.com/"))
	start(t, d)
	for i, k := range AllKinds() {
		d.Notify(event(k, int64(i+1)))
	}
	for i, k := range AllKinds() {
		got := rcv.wait(t)
		var body struct {
			Event
			Summary string `json:"summary"`
		}
		if err := json.Unmarshal(got.body, &body); err != nil {
			t.Fatalf("%s: body %s: %v", k, got.body, err)
		}
		want := event(k, int64(i+1))
		want.Link = fmt.Sprintf("https://canary.example.com/changes/%d", i+1)
		if body.Kind != k || body.Version != want.Version || body.File != want.File || body.Link != want.Link ||
			body.Reason != want.Reason || *body.Confidence != 0.42 || !body.Time.Equal(want.Time) || body.ID != want.ID {
			t.Errorf("%s: received %+v, want %+v", k, body.Event, want)
		}
		if !strings.Contains(body.Summary, fmt.Sprintf("Change %d", i+1)) {
			t.Errorf("%s: summary %q", k, body.Summary)
		}
		if got.header.Get(HeaderEventID) != want.ID || got.header.Get(HeaderEventKind) != string(k) {
			t.Errorf("%s: headers %v", k, got.header)
		}
		if err := Verify([]byte(testSecret), got.header.Get(HeaderTimestamp), got.header.Get(HeaderSignature), got.body, time.Now(), 0); err != nil {
			t.Errorf("%s: Verify: %v", k, err)
		}
	}
	if n := eventually(t, d.m.sent.WithLabelValues("ops", resultDelivered), float64(len(AllKinds()))); n != float64(len(AllKinds())) {
		t.Errorf("delivered = %v, want %d", n, len(AllKinds()))
	}
	if n, err := testutil.GatherAndCount(reg, "schemacanary_alerts_sent_total", "schemacanary_alerts_dropped_total"); err != nil || n != 4 {
		t.Errorf("registered series: %d, %v; want 4", n, err)
	}
}

// TestRetriesUntilTheReceiverAccepts: a receiver that fails the first two
// attempts gets the event on the third, signed afresh.
func TestRetriesUntilTheReceiverAccepts(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, testSecret)
	rcv.failFirst = 2
	d := newDispatcher(t, []Sink{{Name: "ops", URL: rcv.srv.URL, Secret: []byte(testSecret)}})
	start(t, d)
	d.Notify(event(KindRolledBack, 3))
	got := rcv.wait(t)
	if n := rcv.attemptCount(); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
	if !bytes.Contains(got.body, []byte(`"kind":"rolled_back"`)) {
		t.Errorf("body %s", got.body)
	}
	if n := eventually(t, d.m.sent.WithLabelValues("ops", resultDelivered), 1); n != 1 {
		t.Errorf("delivered = %v", n)
	}
}

// TestRetryAfterIsRespected: a 429 with Retry-After: 1 delays the next
// attempt by a second although the backoff is 10 ms.
func TestRetryAfterIsRespected(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, testSecret)
	rcv.failFirst, rcv.failStatus, rcv.retryAfter = 1, http.StatusTooManyRequests, "1"
	d := newDispatcher(t, []Sink{{Name: "ops", URL: rcv.srv.URL, Secret: []byte(testSecret)}})
	start(t, d)
	t0 := time.Now()
	d.Notify(event(KindFailed, 4))
	rcv.wait(t)
	if el := time.Since(t0); el < time.Second {
		t.Errorf("delivered after %s, want >= 1s (Retry-After)", el)
	}
}

// TestGivesUpAfterMaxAttemptsAndOnPermanentRefusal: a 503 forever costs
// MaxAttempts attempts; a 400, a 401 or a redirect costs one. Each counts
// as failed.
func TestGivesUpAfterMaxAttemptsAndOnPermanentRefusal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		want   int
	}{{"unavailable", 503, 4}, {"bad request", 400, 1}, {"redirect", 302, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			attempts := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				attempts++
				mu.Unlock()
				if tc.status == 302 {
					http.Redirect(w, r, "http://example.com/", http.StatusFound)
					return
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			d := newDispatcher(t, []Sink{{Name: "ops", URL: srv.URL, Secret: []byte(testSecret), MaxAttempts: 4}})
			start(t, d)
			d.Notify(event(KindDone, 5))
			eventually(t, d.m.sent.WithLabelValues("ops", resultFailed), 1)
			mu.Lock()
			defer mu.Unlock()
			if attempts != tc.want {
				t.Errorf("attempts = %d, want %d", attempts, tc.want)
			}
			if n := count(d.m.sent.WithLabelValues("ops", resultFailed)); n != 1 {
				t.Errorf("failed = %v, want 1", n)
			}
		})
	}
}

// TestHangingReceiverDoesNotBlockNotify: with a receiver that never
// answers, Notify still returns at once, the queue overflows instead of
// growing, and Run returns within the flush timeout on shutdown, counting
// what it could not send.
func TestHangingReceiverDoesNotBlockNotify(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, testSecret)
	rcv.hangAll()
	d := newDispatcher(t, []Sink{{Name: "ops", URL: rcv.srv.URL, Secret: []byte(testSecret), QueueSize: 5, Timeout: time.Hour}},
		WithFlushTimeout(200*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	d.Notify(event(KindCanaryStarted, 1))
	for rcv.attemptCount() == 0 {
		time.Sleep(5 * time.Millisecond) // the worker is now stuck in the first post
	}
	t0 := time.Now()
	for i := range 1000 {
		d.Notify(event(KindWavePromoted, int64(i+2)))
	}
	if el := time.Since(t0); el > 500*time.Millisecond {
		t.Errorf("1000 Notify calls took %s with a hanging receiver", el)
	}
	if n := count(d.m.dropped.WithLabelValues("ops", dropQueueFull)); n != 995 {
		t.Errorf("dropped (queue full) = %v, want 995", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within the flush timeout")
	}
	// The hung event and the five queued ones were never delivered.
	if n := count(d.m.dropped.WithLabelValues("ops", dropShutdown)); n != 6 {
		t.Errorf("dropped (shutdown) = %v, want 6", n)
	}
}

// TestQueueOverflowDropsTheOldest: events notified while nothing delivers
// overflow a queue of 3; the two oldest are dropped, counted and logged,
// and the newest three arrive in order.
func TestQueueOverflowDropsTheOldest(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, testSecret)
	var logs syncBuffer
	d := newDispatcher(t, []Sink{{Name: "ops", URL: rcv.srv.URL, Secret: []byte(testSecret), QueueSize: 3}},
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	for v := int64(1); v <= 5; v++ {
		d.Notify(event(KindDone, v))
	}
	if n := count(d.m.dropped.WithLabelValues("ops", dropQueueFull)); n != 2 {
		t.Errorf("dropped = %v, want 2", n)
	}
	if n := count(d.m.queued.WithLabelValues("ops")); n != 3 {
		t.Errorf("queued = %v, want 3", n)
	}
	if s := logs.String(); strings.Count(s, "oldest alert dropped") != 2 || !strings.Contains(s, "dropped_change=1") {
		t.Errorf("log:\n%s", s)
	}
	start(t, d)
	for want := int64(3); want <= 5; want++ {
		var e Event
		if err := json.Unmarshal(rcv.wait(t).body, &e); err != nil {
			t.Fatal(err)
		}
		if e.Version != want {
			t.Errorf("received change %d, want %d", e.Version, want)
		}
	}
}

// TestEventsFilter: a sink with events [failed] gets nothing else.
func TestEventsFilter(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, testSecret)
	d := newDispatcher(t, []Sink{{Name: "pager", URL: rcv.srv.URL, Secret: []byte(testSecret), Events: []Kind{KindFailed}}})
	start(t, d)
	d.Notify(event(KindDone, 1))
	d.Notify(event(KindFailed, 2))
	var e Event
	if err := json.Unmarshal(rcv.wait(t).body, &e); err != nil || e.Kind != KindFailed {
		t.Fatalf("first delivery: %+v, %v", e, err)
	}
	if n := rcv.attemptCount(); n != 1 {
		t.Errorf("attempts = %d, want 1", n)
	}
}

// TestSecretsNeverLogged: a sink whose URL embeds a token and whose
// receiver is down gives up without the URL or the key in any log line or
// printed value.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/services/T000/B000/URLTOKEN123"
	srv.Close() // connection refused from now on
	var logs syncBuffer
	s := Sink{Name: "slack", URL: url, Format: FormatSlack, Secret: []byte("HMACKEY456"), MaxAttempts: 2}
	d := newDispatcher(t, []Sink{s}, WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	start(t, d)
	d.Notify(event(KindFailed, 1))
	eventually(t, d.m.sent.WithLabelValues("slack", resultFailed), 1)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	out := logs.String() + fmt.Sprintf("%v %+v %#v %s", s, s, s, s) + string(b)
	if !strings.Contains(out, "alert not delivered") {
		t.Errorf("no give-up line in:\n%s", out)
	}
	for _, secret := range []string{"URLTOKEN123", "HMACKEY456", "/services/"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q leaked:\n%s", secret, out)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the dispatcher's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNewRejectsBadSinks lists every problem of every sink at once.
func TestNewRejectsBadSinks(t *testing.T) {
	t.Parallel()
	ok := Sink{Name: "a", URL: "https://x.example/", Secret: []byte("k")}
	for _, tc := range []struct {
		name  string
		sinks []Sink
		want  string
	}{
		{"no name", []Sink{{URL: "https://x.example/", Secret: []byte("k")}}, "name is required"},
		{"relative url", []Sink{{Name: "a", URL: "/hook", Secret: []byte("k")}}, "absolute http(s) URL"},
		{"ftp url", []Sink{{Name: "a", URL: "ftp://x.example/", Secret: []byte("k")}}, "absolute http(s) URL"},
		{"format", []Sink{{Name: "a", URL: "https://x.example/", Format: "xml", Secret: []byte("k")}}, `unknown format "xml"`},
		{"unsigned json", []Sink{{Name: "a", URL: "https://x.example/"}}, "a secret is required for the json format"},
		{"event", []Sink{{Name: "a", URL: "https://x.example/", Secret: []byte("k"), Events: []Kind{"exploded"}}}, `unknown event "exploded"`},
		{"negative queue", []Sink{{Name: "a", URL: "https://x.example/", Secret: []byte("k"), QueueSize: -1}}, "must be positive"},
		{"duplicate", []Sink{ok, ok}, `sink "a": name used twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.sinks)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := New([]Sink{{Name: "s", URL: "https://hooks.slack.com/x", Format: FormatSlack}}); err != nil {
		t.Errorf("an unsigned slack sink: %v", err)
	}
	if _, err := New(nil, WithStatusURL("canary.example.com")); err == nil {
		t.Error("a relative status URL was accepted")
	}
}

// TestRunTwice: Run may be called once.
func TestRunTwice(t *testing.T) {
	t.Parallel()
	d := newDispatcher(t, nil)
	start(t, d)
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Run(ctx); err != ErrRunning {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	var nilD *Dispatcher
	nilD.Notify(event(KindDone, 1)) // must not panic
}
