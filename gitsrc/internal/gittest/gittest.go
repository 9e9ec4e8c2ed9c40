// Package gittest serves Git repositories over real HTTP for the tests of
// gitsrc and its subpackages.
package gittest

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// HTTPBackend is Debian's git-http-backend.
const HTTPBackend = "/usr/lib/git-core/git-http-backend"

// ServeHTTP serves the repositories under root with the real
// git-http-backend behind HTTP basic auth (user, password), at
// <server>/git/<repository>. Without git installed the test is skipped,
// or fails in CI.
func ServeHTTP(t testing.TB, root, user, password string) *httptest.Server {
	t.Helper()
	if _, err := os.Stat(HTTPBackend); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git http-backend missing (%v): install git", err)
		}
		t.Skipf("git http-backend missing (%v): install git", err)
	}
	backend := &cgi.Handler{
		Path: HTTPBackend,
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

// BareRemote creates an empty bare repository (default branch main) in a
// temporary folder and returns its path.
func BareRemote(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{Bare: true, InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Clone creates an empty repository whose origin is remote.
func Clone(t testing.TB, remote string) *git.Repository {
	t.Helper()
	repo, err := git.PlainInit(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{remote}}); err != nil {
		t.Fatal(err)
	}
	return repo
}

// Clock returns a clock that starts at 2026-11-25 12:00 UTC and moves one
// second per call (safe for concurrent use).
func Clock() func() time.Time {
	var mu sync.Mutex
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t0 = t0.Add(time.Second)
		return t0
	}
}

// CLI runs the git binary in dir when installed (ok false when not), to
// check that what go-git wrote is what Git itself reads; a failing command
// fails t.
func CLI(t testing.TB, dir string, args ...string) (out string, ok bool) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		return "", false
	}
	b, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, b)
	}
	return string(b), true
}
