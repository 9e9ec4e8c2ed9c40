package gitsrc

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/schemacanary/schemacanary/gitsrc/internal/gittest"
)

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
	srv := gittest.ServeHTTP(t, root, "x-access-token", "s3cret-token")
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
