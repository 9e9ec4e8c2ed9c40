package reconciler

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// TestApprovalsNameWhatTheyApprove: the CLI refuses a version that is not
// awaiting approval (approving ahead of a merge would approve whatever file
// later lands as that version), records the OS user and host, and an
// approval of one content does not approve another (the file was edited).
func TestApprovalsNameWhatTheyApprove(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFakeWorld(t)
	if _, err := Approve(ctx, w.store, 6, "anyone"); !errors.Is(err, ErrNotAwaiting) {
		t.Fatalf("approve before version 6 exists: %v, want ErrNotAwaiting", err)
	}
	w.src.merge(t, "migrations/00006_risky.sql", migrationtest.Source(9, "ALTER TABLE t ADD COLUMN c int;", "ALTER TABLE t DROP COLUMN c;"))
	w.reconcile(t)
	if got := w.state(t, 6); got != change.StateAwaitingApproval {
		t.Fatalf("risky change: %s", got)
	}
	var n int
	if err := w.store.Pool().QueryRow(ctx, `SELECT count(*) FROM approvals`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d approvals recorded by a refused approve (%v)", n, err)
	}
	if _, err := Approve(ctx, w.store, 6, "bob"); err != nil {
		t.Fatal(err)
	}
	var osUser, host, sha string
	if err := w.store.Pool().QueryRow(ctx, `SELECT os_user, host, sha256 FROM approvals WHERE version = 6`).Scan(&osUser, &host, &sha); err != nil {
		t.Fatal(err)
	}
	wantHost, _ := os.Hostname()
	if osUser == "" || host != wantHost || sha == "" {
		t.Errorf("approval recorded os_user %q host %q sha %q", osUser, host, sha)
	}
	c, err := w.store.Get(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	if by, err := w.store.Approver(ctx, 6, c.SHA256, c.Commit); err != nil || by != "bob" {
		t.Fatalf("approver of the approved content: %q %v", by, err)
	}
	if by, err := w.store.Approver(ctx, 6, "sha-of-an-edited-file", c.Commit); err != nil || by != "" {
		t.Fatalf("approval of the old content approves an edited one: %q %v", by, err)
	}
	if by, err := w.store.Approver(ctx, 6, c.SHA256, "another-merge"); err != nil || by != "" {
		t.Fatalf("approval of one merge approves another: %q %v", by, err)
	}
	w.reconcile(t)
	if got := w.state(t, 6); got == change.StateAwaitingApproval {
		t.Errorf("approval of the current content did not approve it")
	}
	if _, err := Approve(ctx, w.store, 6, "carol"); !errors.Is(err, ErrNotAwaiting) && !errors.Is(err, ErrFinished) {
		t.Errorf("approve a change no longer awaiting: %v", err)
	} else if !strings.Contains(err.Error(), "6") {
		t.Errorf("error does not name the version: %v", err)
	}
}
