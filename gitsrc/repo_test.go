package gitsrc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
)

func openFixture(t *testing.T, f *fixture, opts ...Option) *Repo {
	t.Helper()
	r, err := Open(context.Background(), f.dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestChangesMergedMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.write("README.md", "docs\n")
	f.write("migrations/README.md", "not a migration\n")
	f.write("migrations/helpers.go", "package migrations\n")
	root := f.commit("init")
	f.write("migrations/0001_orders.sql", validMigration(3, "orders"))
	c1 := f.commit("Add orders (#12)\n\nbody")
	// A feature branch merged with a merge commit.
	f.checkout("feature", true)
	f.write("migrations/0002_items.sql", validMigration(5, "items"))
	feat := f.commit("add items")
	f.checkout("main", false)
	f.write("migrations/0002_items.sql", validMigration(5, "items"))
	merge := f.commit("Merge pull request #34 from ada/feature\n\nitems", plumbing.NewHash(feat))

	r := openFixture(t, f)
	cs, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Errors) != 0 {
		t.Fatalf("errors: %v", cs.Err())
	}
	if cs.Head != merge || len(cs.Changes) != 2 {
		t.Fatalf("head %s changes %+v", cs.Head, cs.Changes)
	}
	want := []struct {
		version int64
		commit  string
		pr      int
		risk    int
	}{{1, c1, 12, 3}, {2, merge, 34, 5}}
	for i, w := range want {
		got := cs.Changes[i]
		if got.Migration.Version != w.version || got.Commit != w.commit || got.PR != w.pr || got.Migration.FrontMatter.Risk != w.risk {
			t.Errorf("change %d = v%d %s PR %d risk %d, want %+v", i, got.Migration.Version, got.Commit, got.PR, got.Migration.FrontMatter.Risk, w)
		}
		if got.Author != "Ada" || got.AuthorEmail != "ada@example.com" || got.MergedAt.IsZero() {
			t.Errorf("change %d author %q %q at %v", i, got.Author, got.AuthorEmail, got.MergedAt)
		}
		if !strings.HasPrefix(got.Migration.Path, "migrations/") {
			t.Errorf("path %q", got.Migration.Path)
		}
	}
	// Incremental: since the first commit with a migration.
	cs, err = r.Changes(ctx, c1)
	if err != nil || len(cs.Changes) != 1 || cs.Changes[0].Migration.Version != 2 {
		t.Fatalf("since c1: %+v, %v", cs, err)
	}
	// Nothing new since head.
	cs, err = r.Changes(ctx, merge)
	if err != nil || len(cs.Changes)+len(cs.Errors) != 0 {
		t.Fatalf("since head: %+v, %v", cs, err)
	}
	// since before any migration: everything.
	cs, err = r.Changes(ctx, root)
	if err != nil || len(cs.Changes) != 2 {
		t.Fatalf("since root: %+v, %v", cs, err)
	}
	// The feature commit is not on the first-parent chain.
	if _, err := r.Changes(ctx, feat); !errors.Is(err, ErrUnknownCommit) {
		t.Fatalf("since a second-parent commit: %v, want ErrUnknownCommit", err)
	}
	if _, err := r.Changes(ctx, "0123456789abcdef0123456789abcdef01234567"); !errors.Is(err, ErrUnknownCommit) {
		t.Fatalf("since an unknown sha: %v", err)
	}
}

// TestChangesViolations asserts the exact error for every violation a
// commit on the watched branch can carry.
func TestChangesViolations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(f *fixture) // commits after the baseline
		kind  error
		file  string
		line  int
		msg   string
	}{
		{"edited merged file", func(f *fixture) {
			f.write("migrations/0002_items.sql", validMigration(4, "items"))
			f.commit("tweak items")
		}, migration.ErrChecksumDrift, "migrations/0002_items.sql", 0, "edited after it was merged"},
		{"deleted merged file", func(f *fixture) {
			f.remove("migrations/0002_items.sql")
			f.commit("drop items migration")
		}, migration.ErrDeleted, "migrations/0002_items.sql", 0, "deleted after it was merged"},
		{"renamed and edited", func(f *fixture) {
			f.remove("migrations/0002_items.sql")
			f.write("migrations/0002_things.sql", validMigration(5, "things"))
			f.commit("rename")
		}, migration.ErrChecksumDrift, "migrations/0002_things.sql", 0, "renamed from 0002_items.sql"},
		{"duplicate version", func(f *fixture) {
			f.write("migrations/0002_other.sql", validMigration(2, "other"))
			f.commit("dup")
		}, migration.ErrDuplicateVersion, "migrations/0002_other.sql", 0, "version 2 is already used by migrations/0002_items.sql"},
		{"out of order", func(f *fixture) {
			f.write("migrations/0003_early.sql", validMigration(2, "early"))
			f.commit("late arrival")
		}, migration.ErrOutOfOrder, "migrations/0003_early.sql", 0, "version 3 is lower than 5 (migrations/0005_orders.sql)"},
		{"go migration", func(f *fixture) {
			f.write("migrations/0006_backfill.go", "package migrations\n")
			f.commit("go")
		}, migration.ErrGoMigration, "migrations/0006_backfill.go", 0, "SQL migrations"},
		{"missing down", func(f *fixture) {
			f.write("migrations/0006_x.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1;\n")
			f.commit("no down")
		}, migration.ErrMissingDown, "migrations/0006_x.sql", 4, "Down"},
		{"bad front matter", func(f *fixture) {
			f.write("migrations/0006_x.sql", "-- ---\n-- risk: 2\n-- reviewer: bob\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n")
			f.commit("bad fm")
		}, migration.ErrFrontMatter, "migrations/0006_x.sql", 3, `unknown key "reviewer"`},
		{"goose syntax", func(f *fixture) {
			f.write("migrations/0006_x.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose Down\nSELECT 1;\n")
			f.commit("unterminated block")
		}, migration.ErrGooseSyntax, "migrations/0006_x.sql", 7, "StatementBegin"},
		{"bad filename", func(f *fixture) {
			f.write("migrations/add_x.sql", validMigration(2, "x"))
			f.commit("unversioned")
		}, migration.ErrBadFilename, "migrations/add_x.sql", 0, "positive version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t)
			f.write("migrations/0005_orders.sql", validMigration(3, "orders"))
			f.write("migrations/0002_items.sql", validMigration(3, "items"))
			base := f.commit("baseline")
			tt.setup(f)
			r := openFixture(t, f)
			cs, err := r.Changes(ctx, base)
			if err != nil {
				t.Fatal(err)
			}
			if len(cs.Errors) != 1 {
				t.Fatalf("errors = %v, want exactly one %v", cs.Err(), tt.kind)
			}
			migrationtest.AssertError(t, cs.Errors[0], tt.file, tt.line, tt.kind, tt.msg)
			if cs.Errors[0].Commit != cs.Head {
				t.Errorf("error commit %s, want %s", cs.Errors[0].Commit, cs.Head)
			}
			if len(cs.Changes) != 0 {
				t.Errorf("a violation became a change request: %+v", cs.Changes[0].Migration.Path)
			}
		})
	}
}

func TestChangesFixedInPlace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write("migrations/0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1;\n")
	f.commit("broken")
	f.write("migrations/0001_a.sql", validMigration(2, "a"))
	fix := f.commit("fix")
	r := openFixture(t, f)
	cs, err := r.Changes(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Errors) != 1 || !errors.Is(cs.Errors[0], migration.ErrMissingDown) {
		t.Fatalf("errors %v", cs.Err())
	}
	if len(cs.Changes) != 1 || cs.Changes[0].Commit != fix {
		t.Fatalf("a file fixed in place should become a change request at the fix: %+v", cs.Changes)
	}
}

func TestListAndFetch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.write("db/0002_b.sql", validMigration(2, "b"))
	f.write("db/0001_a.sql", validMigration(1, "a"))
	f.write("db/0003_bad.sql", "-- +goose Up\nSELECT 1;\n")
	first := f.commit("two")
	// A file:// URL is read in place, like a path.
	r, err := Open(ctx, "file://"+f.dir, WithMigrationsDir("db/"), WithBranch("main"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.inPlace {
		t.Error("file:// URL was cloned")
	}
	l, err := r.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if l.Commit != first || len(l.Migrations) != 2 || l.Migrations[0].Version != 1 || l.Migrations[1].Version != 2 {
		t.Fatalf("listing %+v", l)
	}
	if len(l.Errors) != 1 {
		t.Fatalf("errors %v", l.Errors)
	}
	migrationtest.AssertError(t, l.Errors[0], "db/0003_bad.sql", 1, migration.ErrFrontMatter, "no front matter")

	// A new commit is invisible until Fetch.
	f.write("db/0004_d.sql", validMigration(1, "d"))
	second := f.commit("four")
	if h, _ := r.Head(ctx); h != first {
		t.Fatalf("head moved before fetch: %s", h)
	}
	if err := r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if h, _ := r.Head(ctx); h != second {
		t.Fatalf("head after fetch %s, want %s", h, second)
	}
	cs, err := r.Changes(ctx, first)
	if err != nil || len(cs.Changes) != 1 || cs.Changes[0].Migration.Path != "db/0004_d.sql" {
		t.Fatalf("changes after fetch: %+v %v", cs, err)
	}
	// Listing an older commit by abbreviated sha still works.
	l, err = r.List(ctx, first[:10])
	if err != nil || len(l.Migrations) != 2 {
		t.Fatalf("list old: %+v %v", l, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.write("migrations/0001_a.sql", validMigration(1, "a"))
	f.commit("one")
	if _, err := Open(ctx, f.dir, WithBranch("trunk")); !errors.Is(err, ErrNoBranch) {
		t.Errorf("missing branch: %v", err)
	}
	if _, err := Open(ctx, t.TempDir()+"/nope"); err == nil {
		t.Error("missing path accepted")
	}
	if _, err := Open(ctx, "ftp://example.com/x"); err == nil || !strings.Contains(err.Error(), "unsupported scheme") {
		t.Errorf("ftp: %v", err)
	}
	if _, err := Open(ctx, "https://u:secret@example.com/x.git", WithBasicAuth("x", "y")); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("conflicting credentials: %v", err)
	}
	for _, o := range []Option{WithBasicAuth("", "t"), WithDir(""), WithBranch("a b"), WithMigrationsDir("../up"), WithMigrationsDir("/abs"), WithLogger(nil)} {
		if _, err := Open(ctx, f.dir, o); err == nil {
			t.Error("invalid option accepted")
		}
	}
	empty := newFixture(t)
	if _, err := Open(ctx, empty.dir); !errors.Is(err, ErrNoBranch) {
		t.Errorf("empty repository: %v", err)
	}
}

func TestOpenWithDirReusesMirror(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.write("migrations/0001_a.sql", validMigration(1, "a"))
	f.commit("one")
	dir := t.TempDir() + "/mirror"
	r, err := Open(ctx, f.dir, WithDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // keeps dir
	f.write("migrations/0002_b.sql", validMigration(1, "b"))
	head := f.commit("two")
	r, err = Open(ctx, f.dir, WithDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h, _ := r.Head(ctx); h != head {
		t.Fatalf("reopened mirror head %s, want %s", h, head)
	}
}

// TestOpenRepairsRefsACrashEmptied reopens a mirror whose ref files a
// SIGKILL left empty (go-git truncates, then writes): the open succeeds and
// the fetch restores them.
func TestOpenRepairsRefsACrashEmptied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.write("migrations/0001_a.sql", validMigration(1, "a"))
	head := f.commit("one")
	dir := t.TempDir() + "/mirror"
	r, err := Open(ctx, f.dir, WithDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	emptied := []string{"refs/heads/main", "refs/schemacanary/remotes/origin/schemacanary-audit"}
	for _, ref := range emptied {
		p := filepath.Join(dir, filepath.FromSlash(ref))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err = Open(ctx, f.dir, WithDir(dir))
	if err != nil {
		t.Fatalf("reopen after a crash emptied refs: %v", err)
	}
	defer r.Close()
	if h, _ := r.Head(ctx); h != head {
		t.Fatalf("repaired mirror head %s, want %s", h, head)
	}
	if _, err := os.Stat(filepath.Join(dir, "refs/schemacanary/remotes/origin/schemacanary-audit")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty tracking ref not removed: %v", err)
	}
}

func TestPRNumber(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]int{
		"Merge pull request #34 from ada/feature\n\nitems": 34,
		"Add items (#7)":                       7,
		"Add items (#7)\n\n* squashed commits": 7,
		"Fix #7 in title":                      0,
		"Merge branch 'x' into main\n\nSee merge request group/proj!99\n": 99,
		"plain": 0,
	} {
		if got := PRNumber(msg); got != want {
			t.Errorf("PRNumber(%q) = %d, want %d", msg, got, want)
		}
	}
}

// TestConcurrentUse runs every read method while Fetch brings new commits,
// under the race detector in `make test`.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.write("migrations/0001_a.sql", validMigration(1, "a"))
	f.commit("a")
	f.checkout("b", true)
	f.write("migrations/0002_b.sql", validMigration(1, "b"))
	f.commit("b")
	f.checkout("main", false)
	r := openFixture(t, f)
	done := make(chan error, 4)
	for i := range 3 {
		go func() {
			for range 5 {
				var err error
				switch i {
				case 0:
					_, err = r.Changes(ctx, "")
				case 1:
					_, err = r.List(ctx, "")
				case 2:
					_, err = r.Proposals(ctx)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	f.write("migrations/0003_c.sql", validMigration(1, "c"))
	f.commit("c")
	go func() { done <- r.Fetch(ctx) }()
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	cs, err := r.Changes(ctx, "")
	if err != nil || len(cs.Changes) != 2 {
		t.Fatalf("after concurrent fetch: %+v %v", cs, err)
	}
}

// TestChangesIgnoresSubfoldersAndOtherFiles checks the tree diff's Git
// ordering ("0001_a.sql" sorts before the folder "0001_a") and that
// subfolders, links and non-migration files are neither changes nor errors.
func TestChangesIgnoresSubfoldersAndOtherFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write("migrations/0001_a.sql", validMigration(1, "a"))
	f.write("migrations/0001_a/notes.sql", "not a migration: goose does not recurse\n")
	f.write("migrations/0001_a-b.txt", "x\n")
	base := f.commit("base")
	f.write("migrations/0001_a/more.sql", "still not\n")
	f.write("migrations/0002_b.sql", validMigration(1, "b"))
	f.write("migrations/0001_a-b.txt", "y\n")
	f.commit("more")
	f.remove("migrations/0001_a/notes.sql")
	f.write("migrations/0003_c.sql", validMigration(1, "c"))
	f.commit("again")
	r := openFixture(t, f)
	for _, since := range []string{"", base} {
		cs, err := r.Changes(context.Background(), since)
		if err != nil {
			t.Fatal(err)
		}
		want := 3
		if since != "" {
			want = 2
		}
		if len(cs.Errors) != 0 || len(cs.Changes) != want {
			t.Fatalf("since %q: changes %d errors %v", since, len(cs.Changes), cs.Err())
		}
	}
}
