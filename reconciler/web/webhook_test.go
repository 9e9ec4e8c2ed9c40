package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/schemacanary/schemacanary/internal/secret"
)

// countingBody records how many bytes the handler read from it.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return nil }

func signBody(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// syncBuffer is a log sink safe for the rejectLog's timer goroutine.
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

// TestWebhookRefusesUnreadRequestsThatCannotBeAuthentic: requests without a
// well-formed signature header, without a declared length, or declaring
// more than the limit are refused before a byte of the body is read.
func TestWebhookRefusesUnread(t *testing.T) {
	var polls atomic.Int32
	h := newWebhookHandler(secret.NewSecret("hush"), func() { polls.Add(1) }, slog.New(slog.DiscardHandler), nil, time.Minute)
	big := bytes.Repeat([]byte("x"), maxWebhookBody+1)
	small := []byte(`{"ref":"refs/heads/main"}`)
	cases := []struct {
		name   string
		body   []byte
		length int64
		sig    string
		code   int
	}{
		{"no signature, 5 MB", big[:maxWebhookBody], maxWebhookBody, "", http.StatusUnauthorized},
		{"sha1 signature", small, int64(len(small)), "sha1=" + strings.Repeat("a", 40), http.StatusUnauthorized},
		{"short hex", small, int64(len(small)), "sha256=abc", http.StatusUnauthorized},
		{"not hex", small, int64(len(small)), "sha256=" + strings.Repeat("z", 64), http.StatusUnauthorized},
		{"chunked, no length", small, -1, signBody("hush", small), http.StatusLengthRequired},
		{"declared too large", big, int64(len(big)), signBody("hush", big), http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingBody{r: bytes.NewReader(tc.body)}
			req := httptest.NewRequest(http.MethodPost, "/webhook/github", nil)
			req.Body, req.ContentLength = body, tc.length
			req.Header.Set("X-GitHub-Event", "push")
			if tc.sig != "" {
				req.Header.Set("X-Hub-Signature-256", tc.sig)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d (%s)", rec.Code, tc.code, rec.Body)
			}
			if n := body.read.Load(); n != 0 {
				t.Fatalf("read %d bytes of a request refused before authentication", n)
			}
		})
	}
	if polls.Load() != 0 {
		t.Fatalf("%d polls triggered by refused requests", polls.Load())
	}
	// A well-formed, signed request still works.
	req := httptest.NewRequest(http.MethodPost, "/webhook/github", bytes.NewReader(small))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", signBody("hush", small))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted || polls.Load() != 1 {
		t.Fatalf("signed push: code %d, polls %d", rec.Code, polls.Load())
	}
}

// TestWebhookCapsConcurrentRequests: with every slot held by a slow sender,
// one more request is refused with 503 at once rather than buffered.
func TestWebhookCapsConcurrentRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	rejected := newRejectedCounter()
	reg.MustRegister(rejected)
	h := newWebhookHandler(secret.NewSecret("hush"), func() {}, slog.New(slog.DiscardHandler), rejected, time.Minute)
	body := []byte(`{"zen":"slow"}`)
	var wg sync.WaitGroup
	writers := make([]*io.PipeWriter, maxWebhookConcurrency)
	codes := make([]int, maxWebhookConcurrency)
	for i := range writers {
		pr, pw := io.Pipe()
		writers[i] = pw
		req := httptest.NewRequest(http.MethodPost, "/webhook/github", pr)
		req.ContentLength = int64(len(body))
		req.Header.Set("X-GitHub-Event", "ping")
		req.Header.Set("X-Hub-Signature-256", signBody("hush", body))
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			codes[i] = rec.Code
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(h.slots) < maxWebhookConcurrency {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d slow requests admitted", len(h.slots), maxWebhookConcurrency)
		}
		time.Sleep(5 * time.Millisecond)
	}
	extra := &countingBody{r: bytes.NewReader(body)}
	req := httptest.NewRequest(http.MethodPost, "/webhook/github", nil)
	req.Body, req.ContentLength = extra, int64(len(body))
	req.Header.Set("X-GitHub-Event", "ping")
	req.Header.Set("X-Hub-Signature-256", signBody("hush", body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("request over the cap: code %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if extra.read.Load() != 0 {
		t.Fatal("the request over the cap was read")
	}
	for _, pw := range writers {
		pw.Write(body)
		pw.Close()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Fatalf("slow request %d: code %d, want 200 (pong)", i, c)
		}
	}
	if len(h.slots) != 0 {
		t.Fatalf("%d slots still held", len(h.slots))
	}
	mfs, _ := reg.Gather()
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "schemacanary_webhook_rejected_total" {
			for _, mm := range mf.GetMetric() {
				if mm.GetCounter().GetValue() == 1 && strings.Contains(mm.String(), "too many concurrent") {
					found = true
				}
			}
		}
	}
	if !found {
		t.Fatal("schemacanary_webhook_rejected_total{reason=too many concurrent ...} is not 1")
	}
}

// TestWebhookSummarisesRefusals: a flood of forged requests is logged as a
// first line and one summary per interval, with the count, not a line per
// request.
func TestWebhookSummarisesRefusals(t *testing.T) {
	var logs syncBuffer
	h := newWebhookHandler(secret.NewSecret("hush"), func() {}, slog.New(slog.NewTextHandler(&logs, nil)), nil, 300*time.Millisecond)
	body := []byte(`{"ref":"refs/heads/main"}`)
	for i := 0; i < 100; i++ {
		req := httptest.NewRequest(http.MethodPost, "/webhook/github", bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", signBody("wrong", body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("forged request %d: code %d", i, rec.Code)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "count=99") {
		if time.Now().After(deadline) {
			t.Fatalf("no summary of the 99 later refusals:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("100 refusals logged as %d lines, want 2 (first + summary):\n%s", len(lines), logs.String())
	}
	if !strings.Contains(lines[1], `reasons="invalid signature: 99"`) {
		t.Fatalf("summary line: %s", lines[1])
	}
}
