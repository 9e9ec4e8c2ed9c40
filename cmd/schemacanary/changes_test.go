package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// changesRepo makes a real repository with one good and one bad migration.
func changesRepo(t *testing.T) (dir, first string) {
	t.Helper()
	dir = t.TempDir()
	g, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := g.Worktree()
	sig := &object.Signature{Name: "Ada", Email: "ada@example.com", When: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	commit := func(file, content, msg string) string {
		if err := os.MkdirAll(filepath.Join(dir, "db"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "db", file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add("db/" + file); err != nil {
			t.Fatal(err)
		}
		h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			t.Fatal(err)
		}
		return h.String()
	}
	first = commit("0001_orders.sql", "-- ---\n-- risk: 3\n-- owner: payments\n-- ---\n-- +goose Up\nCREATE TABLE orders (id int);\n-- +goose Down\nDROP TABLE orders;\n", "Add orders (#12)")
	commit("0002_bad.sql", "-- ---\n-- risk: 42\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n", "bad")
	return dir, first
}

func runChangesCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestChangesCommand(t *testing.T) {
	t.Parallel()
	dir, first := changesRepo(t)

	out, err := runChangesCLI(t, "changes", "--repo", dir, "--dir", "db")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("err = %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"1 change(s), 1 error(s)", "db/0001_orders.sql", "#12", "payments",
		"error: db/0002_bad.sql:2: invalid front matter: risk 42 is out of range 1..10"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}

	out, err = runChangesCLI(t, "changes", "--repo", dir, "--dir", "db", "--format", "json")
	if !errors.As(err, &ee) {
		t.Fatalf("json: %v", err)
	}
	var doc struct {
		Changes []struct {
			PR        int `json:"pr"`
			Migration struct {
				Version int64 `json:"version"`
			} `json:"migration"`
		} `json:"changes"`
		Errors []struct {
			File, Kind string
			Line       int
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if len(doc.Changes) != 1 || doc.Changes[0].PR != 12 || len(doc.Errors) != 1 || doc.Errors[0].Kind != "front_matter" || doc.Errors[0].Line != 2 {
		t.Errorf("json = %+v", doc)
	}

	// Since the first commit: only the bad file, still exit 1.
	if out, err := runChangesCLI(t, "changes", "--repo", dir, "--dir", "db", "--since", first); err == nil || !strings.Contains(out, "0 change(s), 1 error(s)") {
		t.Errorf("since first: %v\n%s", err, out)
	}
	if _, err := runChangesCLI(t, "changes", "--repo", dir, "--format", "yaml"); err == nil {
		t.Error("bad --format accepted")
	}
	if _, err := runChangesCLI(t, "changes", "--repo", dir, "--token-env", "SCHEMACANARY_TEST_UNSET_TOKEN"); err == nil || !strings.Contains(err.Error(), "empty or unset") {
		t.Errorf("unset token env: %v", err)
	}
	if _, err := runChangesCLI(t, "changes"); err == nil {
		t.Error("missing --repo accepted")
	}
}
