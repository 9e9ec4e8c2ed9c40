package gitsrc

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// fixture is a real Git repository with a work tree in a temp dir, written
// with go-git, that tests commit migrations to.
type fixture struct {
	t     testing.TB
	dir   string
	g     *git.Repository
	wt    *git.Worktree
	clock time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	g, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := g.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, g: g, wt: wt, clock: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// validMigration returns a valid strict migration creating table name.
func validMigration(risk int, table string) string {
	return fmt.Sprintf("-- ---\n-- risk: %d\n-- owner: team-%s\n-- ---\n-- +goose Up\nCREATE TABLE %s (id int);\n-- +goose Down\nDROP TABLE %s;\n", risk, table, table, table)
}

func (f *fixture) write(path, content string) {
	f.t.Helper()
	full := filepath.Join(f.dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.wt.Add(path); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) remove(path string) {
	f.t.Helper()
	if _, err := f.wt.Remove(path); err != nil {
		f.t.Fatal(err)
	}
}

// commit commits the index as "Ada <ada@example.com>"; extra parents make a
// merge commit.
func (f *fixture) commit(msg string, parents ...plumbing.Hash) string {
	f.t.Helper()
	f.clock = f.clock.Add(time.Minute)
	sig := &object.Signature{Name: "Ada", Email: "ada@example.com", When: f.clock}
	opts := &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true}
	if len(parents) > 0 {
		head := f.head()
		opts.Parents = append([]plumbing.Hash{head}, parents...)
	}
	h, err := f.wt.Commit(msg, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return h.String()
}

func (f *fixture) head() plumbing.Hash {
	f.t.Helper()
	ref, err := f.g.Head()
	if err != nil {
		f.t.Fatal(err)
	}
	return ref.Hash()
}

// checkout switches to branch, creating it at the current head when new.
func (f *fixture) checkout(branch string, create bool) {
	f.t.Helper()
	err := f.wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch), Create: create, Keep: create})
	if err != nil {
		f.t.Fatalf("checkout %s: %v", branch, err)
	}
}

// ref returns the hash of a local branch.
func (f *fixture) ref(branch string) plumbing.Hash {
	f.t.Helper()
	r, err := f.g.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		f.t.Fatal(err)
	}
	return r.Hash()
}

// setRef points name (e.g. refs/pull/7/head) at h, as GitHub does for PRs.
func (f *fixture) setRef(name string, h plumbing.Hash) {
	f.t.Helper()
	if err := f.g.Storer.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(name), h)); err != nil {
		f.t.Fatal(err)
	}
}
