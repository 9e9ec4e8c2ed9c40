package gitsrc_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/schemacanary/schemacanary/gitsrc"
)

func ExampleRepo_Changes() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	// A repository with one merged migration and one that lacks a Down.
	g, _ := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	wt, _ := g.Worktree()
	sig := &object.Signature{Name: "Ada", Email: "ada@example.com", When: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	commit := func(file, content, msg string) {
		os.MkdirAll(filepath.Join(dir, "migrations"), 0o755)
		os.WriteFile(filepath.Join(dir, "migrations", file), []byte(content), 0o644)
		wt.Add("migrations/" + file)
		wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	}
	commit("0001_orders.sql", "-- ---\n-- risk: 3\n-- ---\n-- +goose Up\nCREATE TABLE orders (id int);\n-- +goose Down\nDROP TABLE orders;\n", "Add orders (#12)")
	commit("0002_note.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nALTER TABLE orders ADD COLUMN note text;\n", "Add note (#13)")

	repo, err := gitsrc.Open(ctx, dir, gitsrc.WithBranch("main"), gitsrc.WithMigrationsDir("migrations"))
	if err != nil {
		panic(err)
	}
	defer repo.Close()
	cs, err := repo.Changes(ctx, "") // "" = from the first commit; pass cs.Head next time
	if err != nil {
		panic(err)
	}
	for _, cr := range cs.Changes {
		fmt.Printf("change %d %s PR #%d by %s, risk %d\n", cr.Migration.Version, cr.Migration.Path, cr.PR, cr.Author, cr.Migration.FrontMatter.Risk)
	}
	for _, e := range cs.Errors {
		fmt.Printf("error %s:%d %s\n", e.File, e.Line, migration.KindName(e))
	}
	// Output:
	// change 1 migrations/0001_orders.sql PR #12 by Ada, risk 3
	// error migrations/0002_note.sql:4 missing_down
}
