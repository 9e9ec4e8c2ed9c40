package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/schemacanary/schemacanary/reconciler/notify"
)

// receiver is the alert webhook of the demo: a real HTTP server on
// loopback that checks each delivery's HMAC-SHA256 signature as a
// receiver should (notify.Verify: timestamp within tolerance, signature
// compared in constant time) and prints it on the timeline.
type receiver struct {
	srv    *http.Server
	url    string
	secret []byte
	p      *printer
	mu     sync.Mutex
	good   int
	bad    int
}

// startReceiver writes a random signing secret into dir/secrets/alert_hmac
// (the daemon reads it by reference, as it would a mounted secret) and
// starts listening.
func startReceiver(p *printer, dir string) (*receiver, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%x", secret)
	path := filepath.Join(dir, "secrets", "alert_hmac")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("demo: write the alert secret: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: alert receiver: %w", err)
	}
	r := &receiver{url: "http://" + ln.Addr().String() + "/alerts", secret: []byte(key), p: p}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.line("alert receiver stopped: %v", err)
		}
	}()
	return r, nil
}

// serve verifies and prints one delivery.
func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if err := notify.Verify(r.secret, req.Header.Get(notify.HeaderTimestamp), req.Header.Get(notify.HeaderSignature), body, time.Now(), 0); err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		r.p.line("alert webhook: REJECTED a delivery: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e struct {
		Kind    notify.Kind `json:"kind"`
		Version int64       `json:"version"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.good++
	r.mu.Unlock()
	r.p.line("#%-4d alert webhook received %s, signature verified (%d bytes, HMAC-SHA256)", e.Version, e.Kind, len(body))
	w.WriteHeader(http.StatusNoContent)
}

// counts returns the verified and rejected deliveries so far.
func (r *receiver) counts() (good, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.good, r.bad
}

// stop shuts the server down.
func (r *receiver) stop(ctx context.Context) error {
	return r.srv.Shutdown(ctx)
}
