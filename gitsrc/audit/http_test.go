package audit

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/schemacanary/schemacanary/gitsrc/internal/gittest"
)

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
	if _, ok := gittest.CLI(t, bare, "config", "http.receivepack", "true"); !ok {
		t.Skip("git not installed")
	}
	srv := gittest.ServeHTTP(t, root, "x-access-token", "s3cret-token")
	url := srv.URL + "/git/app.git"
	auth := WithAuditAuth(&githttp.BasicAuth{Username: "x-access-token", Password: "s3cret-token"})

	const writers, per = 2, 4
	var audits []*Audit
	for w := 0; w < writers; w++ {
		audits = append(audits, auditTestNew(t, gittest.Clone(t, url), auth, WithAuditPushRetries(50)))
	}
	auditTestWriteConcurrently(t, audits, 1, per)
	gittest.CLI(t, bare, "fsck", "--strict", "--no-dangling")
	log, _ := gittest.CLI(t, bare, "log", "--oneline", AuditBranch)
	if n := strings.Count(log, "\n"); n != writers*per {
		t.Fatalf("audit branch has %d commits, want %d:\n%s", n, writers*per, log)
	}
	if files, _ := gittest.CLI(t, bare, "ls-tree", "-r", "--name-only", AuditBranch); files != "changes/1.md\nchanges/2.md\n" {
		t.Fatalf("audit tree: %q", files)
	}

	// A wrong token is refused with a clear error and pushes nothing.
	bad := auditTestNew(t, gittest.Clone(t, url), WithAuditAuth(&githttp.BasicAuth{Username: "x-access-token", Password: "wrong"}))
	if _, err := bad.Record(ctx, ChangeRecord{Version: 3}, Transition{To: "s0"}); err == nil {
		t.Fatal("record with a wrong token succeeded")
	}
	if after, _ := gittest.CLI(t, bare, "log", "--oneline", AuditBranch); after != log {
		t.Fatalf("a refused writer changed the branch:\n%s", after)
	}
}
