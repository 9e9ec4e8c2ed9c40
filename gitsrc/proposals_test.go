package gitsrc

import (
	"context"
	"errors"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
)

func TestProposals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write("migrations/0001_orders.sql", validMigration(3, "orders"))
	f.commit("baseline")

	// good: adds 0002, fine.
	f.checkout("good", true)
	f.write("migrations/0002_items.sql", validMigration(4, "items"))
	f.commit("add items")
	f.checkout("main", false)

	// docs: touches no migration; not a proposal.
	f.checkout("docs", true)
	f.write("README.md", "hi\n")
	f.commit("docs")
	f.checkout("main", false)

	// stale: branched before main merged 0003, adds 0002 with a different
	// name (collides with good once good is merged) and edits 0001.
	f.checkout("stale", true)
	f.write("migrations/0001_orders.sql", validMigration(9, "orders"))
	f.write("migrations/0002_other.sql", validMigration(2, "other"))
	f.commit("edit and add")
	f.checkout("main", false)

	// main merges good, then adds 0003 directly.
	f.write("migrations/0002_items.sql", validMigration(4, "items"))
	f.commit("Merge pull request #2 from ada/good")
	f.write("migrations/0003_c.sql", validMigration(1, "c"))
	f.commit("c (#3)")

	// late: adds 0003_late and 0004 after main has 0003.
	f.checkout("late", true)
	f.write("migrations/0004_d.sql", validMigration(1, "d"))
	late := f.commit("add d")
	f.checkout("main", false)
	f.setRef("refs/pull/9/head", f.ref("late"))

	// In place, and through a fetched mirror (refs/pull/* refspec).
	for _, mode := range []string{"in place", "mirror"} {
		t.Run(mode, func(t *testing.T) {
			var opts []Option
			if mode == "mirror" {
				opts = append(opts, WithDir(t.TempDir()))
			}
			checkProposals(t, openFixture(t, f, opts...), late)
		})
	}
}

func checkProposals(t *testing.T, r *Repo, late string) {
	t.Helper()
	ps, err := r.Proposals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byRef := map[string]Proposal{}
	for _, p := range ps {
		byRef[p.Ref] = p
	}
	if len(ps) != 3 {
		t.Fatalf("proposals %v, want late, stale and pull/9 (good is merged, docs touches nothing)", refsOf(ps))
	}
	lateP := byRef["refs/heads/late"]
	if lateP.Branch != "late" || lateP.Head != late || len(lateP.Errors) != 0 || len(lateP.Changes) != 1 || lateP.Changes[0].Migration.Version != 4 {
		t.Errorf("late = %+v", lateP)
	}
	pr := byRef["refs/pull/9/head"]
	if pr.PR != 9 || pr.Branch != "" || len(pr.Changes) != 1 {
		t.Errorf("pull/9 = %+v", pr)
	}
	stale := byRef["refs/heads/stale"]
	if len(stale.Changes) != 0 || len(stale.Errors) != 2 {
		t.Fatalf("stale changes %d errors %v", len(stale.Changes), stale.Errors)
	}
	migrationtest.AssertError(t, stale.Errors[0], "migrations/0001_orders.sql", 0, migration.ErrChecksumDrift, "edits a merged migration")
	migrationtest.AssertError(t, stale.Errors[1], "migrations/0002_other.sql", 0, migration.ErrDuplicateVersion, "already used by migrations/0002_items.sql")
	if stale.Base == "" || stale.Errors[0].Commit != stale.Head {
		t.Errorf("stale base %q commit %q", stale.Base, stale.Errors[0].Commit)
	}
}

func TestProposalOutOfOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write("migrations/0001_a.sql", validMigration(1, "a"))
	f.commit("a")
	f.checkout("slow", true)
	f.write("migrations/0002_b.sql", validMigration(1, "b"))
	f.commit("b")
	f.checkout("main", false)
	f.write("migrations/0003_c.sql", validMigration(1, "c"))
	f.commit("c")
	r := openFixture(t, f)
	ps, err := r.Proposals(context.Background())
	if err != nil || len(ps) != 1 {
		t.Fatalf("%+v %v", ps, err)
	}
	if len(ps[0].Errors) != 1 || !errors.Is(ps[0].Errors[0], migration.ErrOutOfOrder) {
		t.Fatalf("errors %v", ps[0].Errors)
	}
}

func refsOf(ps []Proposal) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Ref)
	}
	return out
}
