package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/reconciler/change"
)

func TestStatusHandlerPages(t *testing.T) {
	t.Parallel()
	src := demoLikeStatus(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	src.changes[12] = &change.StatusChangeDetail{StatusChange: change.StatusChange{Version: 12, Name: `<script>alert(1)</script>`, State: "predicted", Confidence: -1}}
	h, err := NewStatusHandler(src)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		status     int
		want       []string // substrings of the body
		wantRe     []string // regexps over the body
		notWant    []string
	}{
		{name: "list", path: "/", status: 200,
			want: []string{`href="changes/16"`, "drop_orders_customer_index", "rolled back", "awaiting approval", "87%", "34%",
				"&lt;script&gt;alert(1)&lt;/script&gt;"},
			wantRe:  []string{`(?s)data-version="17".*data-version="16".*data-version="15"`}, // newest first
			notWant: []string{"<script>", "http-equiv=\"refresh\""}},
		{name: "rolled back change", path: "/changes/16", status: 200,
			want: []string{"Rolled back", "schemacanary/revert-16", "412× the control", "takes an ACCESS EXCLUSIVE lock on public.orders",
				`data-kpi="latency:orders_by_customer"`, `data-series="canary"`, `data-series="control"`, `class="mark rollback"`,
				`class="mark applied"`, "mann-whitney-u", "p = 3.1e-09", ">&#43;1m37s<", `href="../"`},
			wantRe: []string{`(?s)<svg class="chart".*<svg class="chart"`, `points="(\d+\.\d,\d+\.\d ){10,}`}},
		{name: "awaiting approval", path: "/changes/17", status: 200,
			want:    []string{"awaiting approval", "schemacanary approve 17", "No KPI sampled yet"},
			notWant: []string{`id="rollback"`}},
		{name: "unknown version", path: "/changes/999", status: 404, want: []string{"no change request with version 999"}},
		{name: "bad version", path: "/changes/abc", status: 400},
		{name: "negative version", path: "/changes/-3", status: 400},
		{name: "unknown path", path: "/nope", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.status {
				t.Fatalf("GET %s: status %d, want %d: %s", tc.path, rec.Code, tc.status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("GET %s: body lacks %q", tc.path, w)
				}
			}
			for _, re := range tc.wantRe {
				if !regexp.MustCompile(re).Match(body) {
					t.Errorf("GET %s: body does not match %s", tc.path, re)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(string(body), w) {
					t.Errorf("GET %s: body contains %q", tc.path, w)
				}
			}
			if rec.Code == 200 && !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("GET %s: the page must forbid external assets", tc.path)
			}
		})
	}
}

func TestStatusHandlerSourceErrorAndOptions(t *testing.T) {
	t.Parallel()
	src := demoLikeStatus(time.Now())
	src.err = errStoreDown
	h, err := NewStatusHandler(src, WithStatusRefresh(5*time.Second), WithStatusLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/changes/16"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("GET %s with the store down: %d, want 500", path, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "connection refused") {
			t.Errorf("GET %s leaks the internal error to the client", path)
		}
	}
	src.err = nil
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !strings.Contains(rec.Body.String(), `http-equiv="refresh" content="5"`) {
		t.Error("WithStatusRefresh(5s) does not make the page refresh every 5s")
	}

	if _, err := NewStatusHandler(nil); err == nil {
		t.Error("a nil source is accepted")
	}
	if _, err := NewStatusHandler(src, WithStatusRefresh(-time.Second)); err == nil {
		t.Error("a negative refresh is accepted")
	}
	if _, err := NewStatusHandler(src, WithStatusLogger(nil)); err == nil {
		t.Error("a nil logger is accepted")
	}
}

func TestStatusHandlerMountedUnderPrefix(t *testing.T) {
	t.Parallel()
	h, err := NewStatusHandler(demoLikeStatus(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/status/", http.StripPrefix("/status", h))
	for path, want := range map[string]int{"/status/": 200, "/status/changes/16": 200, "/status": 300} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code/100 != want/100 {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
	}
}

func TestNiceTicksCoverRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ lo, hi float64 }{{0, 1}, {0, 0.0042}, {0, 351.2}, {0, 7}, {0, 1e6}, {5, 5}} {
		ticks := niceTicks(tc.lo, tc.hi, 4)
		if len(ticks) < 2 || ticks[0] > tc.lo || ticks[len(ticks)-1] < tc.hi {
			t.Errorf("niceTicks(%v, %v) = %v does not cover the range", tc.lo, tc.hi, ticks)
		}
		if len(ticks) > 8 {
			t.Errorf("niceTicks(%v, %v) = %v: too many ticks", tc.lo, tc.hi, ticks)
		}
	}
}
