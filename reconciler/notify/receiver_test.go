package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// delivery is one request a receiver accepted, after checking its
// signature and timestamp the way docs/operations.md tells receivers to.
type delivery struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a real HTTP server that verifies every request: the
// timestamp within 5 minutes, the HMAC-SHA256 of timestamp + "." + body
// (computed here independently of Sign and Verify). It can fail the first
// attempts, answer with Retry-After, or hang.
type receiver struct {
	t      testing.TB
	secret []byte
	srv    *httptest.Server

	mu         sync.Mutex
	attempts   int
	failFirst  int    // answer failStatus to this many attempts
	failStatus int    // default 503
	retryAfter string // Retry-After sent with a failure
	hang       chan struct{}
	got        []delivery
	arrived    chan delivery
}

func newReceiver(t testing.TB, secret string) *receiver {
	r := &receiver{t: t, secret: []byte(secret), failStatus: http.StatusServiceUnavailable, arrived: make(chan delivery, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		r.mu.Lock()
		if r.hang != nil {
			close(r.hang)
			r.hang = nil
		}
		r.mu.Unlock()
		r.srv.Close()
	})
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.attempts++
	n, hang := r.attempts, r.hang
	r.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
		}
		return
	}
	if len(r.secret) > 0 && !r.verify(req.Header, body) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if n <= r.failFirst {
		if r.retryAfter != "" {
			w.Header().Set("Retry-After", r.retryAfter)
		}
		http.Error(w, "try later", r.failStatus)
		return
	}
	d := delivery{header: req.Header.Clone(), body: body, at: time.Now()}
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
	r.arrived <- d
	w.WriteHeader(http.StatusNoContent)
}

// verify is the receiver's check, written from the documentation.
func (r *receiver) verify(h http.Header, body []byte) bool {
	ts := h.Get("X-Schemacanary-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		r.t.Errorf("receiver: timestamp %q missing or stale", ts)
		return false
	}
	mac := hmac.New(sha256.New, r.secret)
	mac.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(h.Get("X-Schemacanary-Signature")), []byte(want)) {
		r.t.Errorf("receiver: signature %q, want %q", h.Get("X-Schemacanary-Signature"), want)
		return false
	}
	return true
}

// wait returns the next delivery, failing the test after 15 s.
func (r *receiver) wait(t testing.TB) delivery {
	t.Helper()
	select {
	case d := <-r.arrived:
		return d
	case <-time.After(15 * time.Second):
		t.Fatalf("no delivery within 15s (%d attempts)", r.attemptCount())
		return delivery{}
	}
}

func (r *receiver) attemptCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// hangAll makes every later request hang until the test ends.
func (r *receiver) hangAll() {
	r.mu.Lock()
	r.hang = make(chan struct{})
	r.mu.Unlock()
}
