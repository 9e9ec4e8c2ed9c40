package reconciler

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store/storetest"
	"github.com/schemacanary/schemacanary/reconciler/web"
)

func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestServerEndpoints(t *testing.T) {
	t.Parallel()
	w := newFakeWorld(t)
	w.src.merge(t, "migrations/00001_safe.sql", migrationtest.Source(2, "CREATE TABLE t (id int);", "DROP TABLE t;"))
	w.reconcile(t)
	var polls atomic.Int32
	m := NewMetrics()
	status := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "status page") })
	srv, err := web.NewServer(w.store, m.Registry(), web.WithWebhook(secret.NewSecret("hush"), func() { polls.Add(1) }), web.WithStatusPage(status),
		web.WithLeaderStatus(func() bool { return true }))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	const push = `{"ref":"refs/heads/main"}`
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		code                     int
		want                     string
		polls                    int32
	}{
		{"healthz", "GET", "/healthz", "", nil, 200, "ok", 0},
		{"readyz", "GET", "/readyz", "", nil, 200, "ready leader", 0},
		{"metrics", "GET", "/metrics", "", nil, 200, "schemacanary_leader", 0},
		{"list", "GET", "/api/changes", "", nil, 200, `"state": "done"`, 0},
		{"one", "GET", "/api/changes/1", "", nil, 200, `"transitions"`, 0},
		{"missing", "GET", "/api/changes/99", "", nil, 404, "no change 99", 0},
		{"bad version", "GET", "/api/changes/x", "", nil, 400, "integer", 0},
		{"status page", "GET", "/", "", nil, 200, "status page", 0},
		{"push signed", "POST", "/webhook/github", push, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("hush", push)}, 202, "poll triggered", 1},
		{"pull_request signed", "POST", "/webhook/github", push, map[string]string{"X-GitHub-Event": "pull_request", "X-Hub-Signature-256": sign("hush", push)}, 202, "poll triggered", 2},
		{"wrong secret", "POST", "/webhook/github", push, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("other", push)}, 401, "invalid signature", 2},
		{"tampered body", "POST", "/webhook/github", push + " ", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("hush", push)}, 401, "invalid signature", 2},
		{"no signature", "POST", "/webhook/github", push, map[string]string{"X-GitHub-Event": "push"}, 401, "invalid signature", 2},
		{"sha1 signature", "POST", "/webhook/github", push, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha1=abc"}, 401, "invalid signature", 2},
		{"other event", "POST", "/webhook/github", push, map[string]string{"X-GitHub-Event": "issues", "X-Hub-Signature-256": sign("hush", push)}, 202, "ignored", 2},
		{"GET webhook", "GET", "/webhook/github", "", nil, 405, "", 2},
	}
	for _, tc := range cases { // sequential: the poll counter accumulates
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, resp.StatusCode, b, tc.code, tc.want)
		}
		if got := polls.Load(); got != tc.polls {
			t.Errorf("%s: %d polls triggered, want %d", tc.name, got, tc.polls)
		}
	}

	resp, err := http.Get(ts.URL + "/api/changes/1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Version     int64               `json:"version"`
		State       change.State        `json:"state"`
		Transitions []change.Transition `json:"transitions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.Version != 1 || d.State != change.StateDone || len(d.Transitions) != 8 {
		t.Errorf("detail: %+v", d)
	}
}

func TestServerReadyzFailsWithoutStore(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t)
	srv, err := web.NewServer(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil).WithContext(context.Background()))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz with a closed store: %d", rec.Code)
	}
}
