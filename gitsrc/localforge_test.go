package gitsrc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// devRepo is a developer's working copy pushing to a bare remote.
type devRepo struct {
	t      *testing.T
	dir    string
	repo   *git.Repository
	remote string
}

func newDevRepo(t *testing.T) *devRepo {
	t.Helper()
	remote := auditTestRemote(t)
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{remote}}); err != nil {
		t.Fatal(err)
	}
	return &devRepo{t: t, dir: dir, repo: repo, remote: remote}
}

// commit writes files (nil content deletes) and commits them; extra
// parents make a merge commit.
func (d *devRepo) commit(msg string, files map[string]string, extraParents ...plumbing.Hash) plumbing.Hash {
	d.t.Helper()
	wt, err := d.repo.Worktree()
	if err != nil {
		d.t.Fatal(err)
	}
	for p, content := range files {
		full := filepath.Join(d.dir, p)
		if content == "" {
			if _, err := wt.Remove(p); err != nil {
				d.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			d.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			d.t.Fatal(err)
		}
		if _, err := wt.Add(p); err != nil {
			d.t.Fatal(err)
		}
	}
	opts := &git.CommitOptions{Author: &object.Signature{Name: "dev", Email: "dev@example.com", When: time.Now()}, AllowEmptyCommits: true}
	if len(extraParents) > 0 {
		head, err := d.repo.Head()
		if err != nil {
			d.t.Fatal(err)
		}
		opts.Parents = append([]plumbing.Hash{head.Hash()}, extraParents...)
	}
	h, err := wt.Commit(msg, opts)
	if err != nil {
		d.t.Fatal(err)
	}
	return h
}

func (d *devRepo) push() {
	d.t.Helper()
	err := d.repo.Push(&git.PushOptions{RefSpecs: []config.RefSpec{"+refs/heads/main:refs/heads/main"}})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		d.t.Fatal(err)
	}
}

// mergeMigration adds a migration on a side commit and merges it into
// main with a real two-parent merge commit; it returns the merge.
func (d *devRepo) mergeMigration(path, content string) plumbing.Hash {
	d.t.Helper()
	head, err := d.repo.Head()
	if err != nil {
		d.t.Fatal(err)
	}
	// The side commit: head + the file, committed without moving main.
	blob, err := putBlob(d.repo.Storer, []byte(content))
	if err != nil {
		d.t.Fatal(err)
	}
	hc, _ := d.repo.CommitObject(head.Hash())
	ht, _ := hc.Tree()
	tree, err := putTree(d.repo.Storer, ht, map[string]treeChange{path: {Hash: blob}})
	if err != nil {
		d.t.Fatal(err)
	}
	side, err := putCommit(d.repo.Storer, tree, []plumbing.Hash{head.Hash()}, "add "+path+"\n", object.Signature{Name: "dev", Email: "dev@example.com", When: time.Now()})
	if err != nil {
		d.t.Fatal(err)
	}
	return d.commit("Merge pull request #7 from dev/"+filepath.Base(path), map[string]string{path: content}, side)
}

// daemonClone clones the remote as the daemon would and returns a forge.
func daemonForge(t *testing.T, remote string, opts ...LocalOption) (*LocalForge, *Audit, *git.Repository) {
	t.Helper()
	repo, err := git.PlainClone(t.TempDir(), true, &git.CloneOptions{URL: remote})
	if err != nil {
		t.Fatal(err)
	}
	a := auditTestNew(t, repo)
	f, err := NewLocalForge(repo, a, append([]LocalOption{WithLocalClock(auditTestClock())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return f, a, repo
}

func remoteTree(t *testing.T, remote, branch string) *object.Tree {
	t.Helper()
	r, err := git.PlainOpen(remote)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		t.Fatalf("remote branch %s: %v", branch, err)
	}
	c, err := r.CommitObject(ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

const testMigration = "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nALTER TABLE t ADD COLUMN c int;\n-- +goose Down\nALTER TABLE t DROP COLUMN c;\n"

func TestLocalForgeRevertLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dev := newDevRepo(t)
	dev.commit("init", map[string]string{"migrations/0001_init.sql": testMigration, "README.md": "hi\n"})
	merge := dev.mergeMigration("migrations/0002_add_c.sql", testMigration)
	dev.commit("unrelated later change", map[string]string{"migrations/0003_later.sql": testMigration})
	dev.push()

	f, _, _ := daemonForge(t, dev.remote)
	ref := ChangeRef{Version: 2, Path: "migrations/0002_add_c.sql", PR: 7, MergeCommit: merge.String()}
	if ok, err := f.RevertMerged(ctx, ref); err != nil || ok {
		t.Fatalf("revert merged before any revert: %v %v", ok, err)
	}
	rv, err := f.OpenRevert(ctx, RevertRequest{Change: ref, Body: "p99 of SELECT orders rose 40% on canary pg-1"})
	if err != nil {
		t.Fatal(err)
	}
	if rv.Branch != "schemacanary/revert-2" || rv.Commit == "" || !strings.HasSuffix(rv.URL, "#schemacanary/revert-2") {
		t.Fatalf("revert = %+v", rv)
	}
	tr := remoteTree(t, dev.remote, rv.Branch)
	if _, err := tr.File("migrations/0002_add_c.sql"); err == nil {
		t.Error("revert branch still has the reverted migration")
	}
	for _, keep := range []string{"migrations/0001_init.sql", "migrations/0003_later.sql", "README.md"} {
		if _, err := tr.File(keep); err != nil {
			t.Errorf("revert branch lost %s: %v", keep, err)
		}
	}
	if out, ok := auditTestGit(t, dev.remote, "log", "-1", "--format=%B", rv.Branch); ok {
		if !strings.Contains(out, "This reverts commit "+merge.String()) || !strings.Contains(out, "p99 of SELECT orders") {
			t.Errorf("revert message:\n%s", out)
		}
	}
	// Idempotent: same forge, and a fresh daemon clone, return the same commit.
	again, err := f.OpenRevert(ctx, RevertRequest{Change: ref})
	if err != nil || again.Commit != rv.Commit {
		t.Fatalf("second open revert: %+v, %v; want commit %s", again, err, rv.Commit)
	}
	f2, _, _ := daemonForge(t, dev.remote)
	if third, err := f2.OpenRevert(ctx, RevertRequest{Change: ref}); err != nil || third.Commit != rv.Commit {
		t.Fatalf("open revert from a fresh clone: %+v, %v; want commit %s", third, err, rv.Commit)
	}
	if ok, err := f.RevertMerged(ctx, ref); err != nil || ok {
		t.Fatalf("revert merged before the merge: %v %v", ok, err)
	}
	// A human merges the revert branch (fast-forward of main).
	if _, err := dev.repo.Storer.Reference(plumbing.NewBranchReferenceName("main")); err != nil {
		t.Fatal(err)
	}
	err = dev.repo.Fetch(&git.FetchOptions{RefSpecs: []config.RefSpec{"+refs/heads/schemacanary/revert-2:refs/heads/revert"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.repo.Storer.SetReference(plumbing.NewHashReference("refs/heads/main", plumbing.NewHash(rv.Commit))); err != nil {
		t.Fatal(err)
	}
	dev.push()
	for _, fg := range []*LocalForge{f, f2} {
		if ok, err := fg.RevertMerged(ctx, ref); err != nil || !ok {
			t.Fatalf("revert merged after merge: %v %v", ok, err)
		}
	}
}

func TestLocalForgeRevertMergedByHandAndConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dev := newDevRepo(t)
	dev.commit("init", map[string]string{"migrations/0001_init.sql": testMigration})
	merge := dev.mergeMigration("migrations/0002_add_c.sql", testMigration)
	dev.commit("edit the merged migration", map[string]string{"migrations/0002_add_c.sql": testMigration + "-- edited\n"})
	dev.push()
	f, _, daemon := daemonForge(t, dev.remote)
	tracking, err := daemon.Reference("refs/remotes/origin/main", true)
	if err != nil {
		t.Fatal(err)
	}
	ref := ChangeRef{Version: 2, Path: "migrations/0002_add_c.sql", MergeCommit: merge.String()}
	_, err = f.OpenRevert(ctx, RevertRequest{Change: ref})
	if !errors.Is(err, ErrRevertConflict) || !strings.Contains(err.Error(), "migrations/0002_add_c.sql") {
		t.Fatalf("open revert over an edited file: %v, want ErrRevertConflict naming the file", err)
	}
	if ok, err := f.RevertMerged(ctx, ref); err != nil || ok {
		t.Fatalf("revert merged with edited file: %v %v", ok, err)
	}
	// A human deletes the file by hand: that is a revert too.
	dev.commit("drop 0002 by hand", map[string]string{"migrations/0002_add_c.sql": ""})
	dev.push()
	if ok, err := f.RevertMerged(ctx, ref); err != nil || !ok {
		t.Fatalf("revert merged after manual delete: %v %v", ok, err)
	}
	byPath := ChangeRef{Version: 2, Path: "migrations/0002_add_c.sql"}
	if ok, err := f.RevertMerged(ctx, byPath); err != nil || !ok {
		t.Fatalf("revert merged by path: %v %v", ok, err)
	}
	// The forge fetched into its own namespace: Repo's refs/remotes/ are untouched.
	if now, err := daemon.Reference("refs/remotes/origin/main", true); err != nil || now.Hash() != tracking.Hash() {
		t.Errorf("refs/remotes/origin/main moved from %s to %v (%v)", tracking.Hash(), now, err)
	}
}

func TestLocalForgeWithoutRemote(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dev := newDevRepo(t)
	dev.commit("init", map[string]string{"migrations/0001_init.sql": testMigration})
	merge := dev.mergeMigration("migrations/0002_add_c.sql", testMigration)
	a := auditTestNew(t, dev.repo, WithAuditRemote(""))
	f, err := NewLocalForge(dev.repo, a, WithLocalRemote(""))
	if err != nil {
		t.Fatal(err)
	}
	rv, err := f.OpenRevert(ctx, RevertRequest{Change: ChangeRef{Version: 2, MergeCommit: merge.String()}})
	if err != nil {
		t.Fatal(err)
	}
	if rv.URL != "" {
		t.Errorf("URL without remote = %q", rv.URL)
	}
	if _, err := dev.repo.Reference(plumbing.NewBranchReferenceName(rv.Branch), true); err != nil {
		t.Fatalf("revert branch missing in the repository itself: %v", err)
	}
}

func TestLocalForgeCommentsAndApprovals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dev := newDevRepo(t)
	dev.commit("init", map[string]string{"migrations/0001_init.sql": testMigration})
	dev.push()
	f, a, _ := daemonForge(t, dev.remote, WithLocalApprovers("alice", "carol"))
	ref := ChangeRef{Version: 9, SHA256: "sha-a", MergeCommit: "merge-1"}
	for _, body := range []string{"confidence 40%", "confidence 40%", "confidence 55%"} {
		if err := f.UpsertPrediction(ctx, ref, body); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := f.Comment(ctx, ref, "decision", "awaiting approval"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Comment(ctx, ref, "Bad/Key", "x"); err == nil {
		t.Error("bad comment key accepted")
	}
	if _, err := f.RecordApproval(ctx, ref, "alice", "checked the lock with the team"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.RecordApproval(ctx, ref, "mallory", "trust me"); !errors.Is(err, ErrApprovalRefused) {
		t.Fatalf("unlisted approver: %v, want ErrApprovalRefused", err)
	}
	if again, err := f.RecordApproval(ctx, ref, "alice", "again"); err != nil || again.Reason != "checked the lock with the team" {
		t.Fatalf("repeat approval: %+v %v", again, err)
	}
	// Everything is on the remote's audit branch; a fresh daemon sees it.
	f2, _, _ := daemonForge(t, dev.remote, WithLocalApprovers("alice"))
	got, err := f2.Approvals(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].By != "alice" || !got[0].Allowed || got[1].By != "mallory" || got[1].Allowed || got[0].At.IsZero() {
		t.Fatalf("approvals = %+v", got)
	}
	// The file was edited after the approval: alice's approval is void.
	edited := ref
	edited.SHA256 = "sha-b"
	if got, err = f2.Approvals(ctx, edited); err != nil || got[0].Allowed || !strings.Contains(got[0].Why, "other content") {
		t.Fatalf("approval of other content: %+v %v", got, err)
	}
	// Without an allow-list, no approval file counts.
	f3, _, _ := daemonForge(t, dev.remote)
	if got, err = f3.Approvals(ctx, ref); err != nil || got[0].Allowed {
		t.Fatalf("no approvers configured: %+v %v", got, err)
	}
	tree := remoteTree(t, dev.remote, AuditBranch)
	pred, ok, err := treeFileBytes(tree, "comments/9/prediction.md")
	if err != nil || !ok || !strings.Contains(string(pred), "confidence 55%") || !strings.HasPrefix(string(pred), PredictionMarker) {
		t.Fatalf("prediction file: %q %v %v", pred, ok, err)
	}
	// Commits: 2 prediction versions + 1 comment + 2 approvals; no transitions.
	if out, ok := auditTestGit(t, dev.remote, "log", "--format=%s", AuditBranch); ok {
		want := "9 approval by mallory refused\n9 approved by alice\n9 comment decision\n9 prediction updated\n9 prediction updated\n"
		if out != want {
			t.Errorf("audit log:\n%s\nwant:\n%s", out, want)
		}
	}
	if hist, err := a.History(ctx, 9); err != nil || len(hist) != 0 {
		t.Errorf("comments counted as transitions: %+v %v", hist, err)
	}
}

// TestLocalForgeIgnoresForgedApprovalFiles: anyone who can push the audit
// branch can write approvals/<v>.md with any name and "allowed: true"; the
// daemon's forge counts only allow-listed approvers of this very content.
func TestLocalForgeIgnoresForgedApprovalFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dev := newDevRepo(t)
	dev.commit("init", map[string]string{"migrations/0001_init.sql": testMigration})
	dev.push()
	mallory, _, _ := daemonForge(t, dev.remote, WithLocalApprovers("mallory"))
	ref := ChangeRef{Version: 4, SHA256: "sha-x", MergeCommit: "m-4"}
	if _, err := mallory.RecordApproval(ctx, ref, "mallory", "I say so"); err != nil {
		t.Fatal(err)
	}
	daemon, _, _ := daemonForge(t, dev.remote, WithLocalApprovers("alice"))
	got, err := daemon.Approvals(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Allowed || !strings.Contains(got[0].Why, "not in forge.approvers") {
		t.Fatalf("forged approval: %+v", got)
	}
}
