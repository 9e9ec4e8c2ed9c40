package gitsrc

import (
	"context"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

const gitHTTPBackend = "/usr/lib/git-core/git-http-backend"

// serveGitHTTP serves the repositories under root with the real
// git-http-backend behind HTTP basic auth (user, password).
func serveGitHTTP(t *testing.T, root, user, password string) *httptest.Server {
	t.Helper()
	if _, err := os.Stat(gitHTTPBackend); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git http-backend missing (%v): install git", err)
		}
		t.Skipf("git http-backend missing (%v): install git", err)
	}
	backend := &cgi.Handler{
		Path: gitHTTPBackend,
		Root: "/git",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOpenOverHTTPWithBasicAuth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.write("migrations/0001_a.sql", validMigration(2, "a"))
	first := f.commit("a (#1)")
	root := t.TempDir()
	bare := filepath.Join(root, "app.git")
	if _, err := git.PlainClone(bare, true, &git.CloneOptions{URL: f.dir}); err != nil {
		t.Fatal(err)
	}
	srv := serveGitHTTP(t, root, "x-access-token", "s3cret-token")
	url := srv.URL + "/git/app.git"

	r, err := Open(ctx, url, WithBasicAuth("x-access-token", "s3cret-token"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cs, err := r.Changes(ctx, "")
	if err != nil || len(cs.Changes) != 1 || cs.Changes[0].PR != 1 || cs.Head != first {
		t.Fatalf("changes over http: %+v %v", cs, err)
	}

	// Push a new commit to the served repository; Fetch picks it up.
	f.write("migrations/0002_b.sql", validMigration(2, "b"))
	second := f.commit("b (#2)")
	served, err := git.PlainOpen(bare)
	if err != nil {
		t.Fatal(err)
	}
	if err := served.FetchContext(ctx, &git.FetchOptions{RefSpecs: []config.RefSpec{"+refs/heads/*:refs/heads/*"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	cs, err = r.Changes(ctx, first)
	if err != nil || len(cs.Changes) != 1 || cs.Head != second {
		t.Fatalf("incremental changes over http: %+v %v", cs, err)
	}

	for name, opts := range map[string][]Option{
		"wrong password": {WithBasicAuth("x-access-token", "wrong")},
		"no credentials": nil,
	} {
		_, err := Open(ctx, url, opts...)
		if !errors.Is(err, ErrAuth) {
			t.Errorf("%s: err = %v, want ErrAuth", name, err)
			continue
		}
		t.Logf("%s: %v", name, err)
		if strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), "token") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: unclear or leaky error: %v", name, err)
		}
	}
}

// TestAuditPushesOverHTTP writes the audit branch from two clones through
// the real git-http-backend, concurrently, and checks with git itself that
// the served repository is complete (each push sends only the new objects,
// so a missing tree or blob would show in fsck) and holds every transition.
func TestAuditPushesOverHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := t.TempDir()
	bare := filepath.Join(root, "app.git")
	if _, err := git.PlainInit(bare, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := auditTestGit(t, bare, "config", "http.receivepack", "true"); !ok {
		t.Skip("git not installed")
	}
	srv := serveGitHTTP(t, root, "x-access-token", "s3cret-token")
	url := srv.URL + "/git/app.git"
	auth := WithAuditAuth(&githttp.BasicAuth{Username: "x-access-token", Password: "s3cret-token"})

	const writers, per = 2, 4
	var audits []*Audit
	for w := 0; w < writers; w++ {
		audits = append(audits, auditTestNew(t, auditTestClone(t, url), auth, WithAuditPushRetries(50)))
	}
	auditTestWriteConcurrently(t, audits, 1, per)
	auditTestGit(t, bare, "fsck", "--strict", "--no-dangling")
	log, _ := auditTestGit(t, bare, "log", "--oneline", AuditBranch)
	if n := strings.Count(log, "\n"); n != writers*per {
		t.Fatalf("audit branch has %d commits, want %d:\n%s", n, writers*per, log)
	}
	if files, _ := auditTestGit(t, bare, "ls-tree", "-r", "--name-only", AuditBranch); files != "changes/1.md\nchanges/2.md\n" {
		t.Fatalf("audit tree: %q", files)
	}

	// A wrong token is refused with a clear error and pushes nothing.
	bad := auditTestNew(t, auditTestClone(t, url), WithAuditAuth(&githttp.BasicAuth{Username: "x-access-token", Password: "wrong"}))
	if _, err := bad.Record(ctx, ChangeRecord{Version: 3}, Transition{To: "s0"}); err == nil {
		t.Fatal("record with a wrong token succeeded")
	}
	if after, _ := auditTestGit(t, bare, "log", "--oneline", AuditBranch); after != log {
		t.Fatalf("a refused writer changed the branch:\n%s", after)
	}
}
