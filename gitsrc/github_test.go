package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func newTestGitHub(t *testing.T, f *fakeGitHub, opts ...GitHubOption) *GitHub {
	t.Helper()
	g, err := NewGitHub(f.owner, f.repo, f.token, append([]GitHubOption{WithGitHubBaseURL(f.srv.URL)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGitHubStickyPredictionFollowsPagination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeGitHub(t)
	for i := 0; i < 130; i++ { // two pages of human discussion first
		f.addComment(12, fmt.Sprintf("dev%d", i%3), fmt.Sprintf("review comment %d", i))
	}
	g := newTestGitHub(t, f)
	ref := ChangeRef{Version: 42, PR: 12}
	for _, body := range []string{"confidence 61%", PredictionMarker + "\nconfidence 61%", "confidence 88%"} {
		if err := g.UpsertPrediction(ctx, ref, body); err != nil {
			t.Fatal(err)
		}
	}
	var sticky []*fakeComment
	for _, c := range f.comments[12] {
		if strings.Contains(c.Body, PredictionMarker) {
			sticky = append(sticky, c)
		}
	}
	if len(sticky) != 1 {
		t.Fatalf("%d prediction comments, want 1", len(sticky))
	}
	if want := PredictionMarker + "\nconfidence 88%"; sticky[0].Body != want {
		t.Errorf("prediction body = %q, want %q", sticky[0].Body, want)
	}
	if got := len(f.comments[12]); got != 131 {
		t.Errorf("%d comments on the PR, want 131", got)
	}
	if n := f.hit("POST /issues/{number}/comments"); n != 1 {
		t.Errorf("created %d comments, want 1", n)
	}
	if n := f.hit("PATCH /issues/comments/{id}"); n != 1 {
		t.Errorf("edited %d times, want 1 (the unchanged body must not be rewritten)", n)
	}
	if !f.commentPages["2"] {
		t.Error("page 2 of the comments was never requested: pagination not followed")
	}
	// No PR: nothing to post on, no request made.
	before := f.hit("GET /issues/{number}/comments")
	if err := g.UpsertPrediction(ctx, ChangeRef{Version: 43}, "x"); err != nil {
		t.Fatal(err)
	}
	if f.hit("GET /issues/{number}/comments") != before {
		t.Error("a change without PR hit the API")
	}
}

func TestGitHubCommentOncePerKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeGitHub(t)
	g := newTestGitHub(t, f)
	ref := ChangeRef{Version: 7, PR: 3}
	for i := 0; i < 3; i++ {
		if err := g.Comment(ctx, ref, "decision", "approved automatically: confidence 91%"); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Comment(ctx, ref, "outcome", "rolled back"); err != nil {
		t.Fatal(err)
	}
	if got := len(f.comments[3]); got != 2 {
		t.Fatalf("%d comments, want 2 (decision once, outcome once)", got)
	}
	if !strings.Contains(f.comments[3][0].Body, "approved automatically") || !strings.Contains(f.comments[3][1].Body, "rolled back") {
		t.Errorf("comments = %q / %q", f.comments[3][0].Body, f.comments[3][1].Body)
	}
	if err := g.Comment(ctx, ref, "Bad Key", "x"); err == nil {
		t.Error("invalid key accepted")
	}
}

func TestGitHubApprovalsCheckPermissionAndRefuseOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeGitHub(t)
	f.perms = map[string]string{"alice": "write", "bob": "read", "carol": "admin"}
	f.addComment(5, "alice", "/schemacanary approve checked with payments team")
	f.addComment(5, "bob", "/schemacanary approve")
	f.addComment(5, "dave", "please /schemacanary approve this")    // not a command
	f.addComment(5, "erin", "/schemacanary approved")               // not the command
	f.addComment(5, "ghost", "/schemacanary approve\nlooks fine")   // unknown user: 404 -> none
	f.addComment(5, "carol", "  /schemacanary approve  \n\nthanks") // admin
	f.mergedPullAt(5, "merge5", time.Now().Add(-time.Hour))
	g := newTestGitHub(t, f)
	ref := ChangeRef{Version: 9, PR: 5, MergeCommit: "merge5"}
	var got []Approval
	for i := 0; i < 3; i++ {
		var err error
		if got, err = g.Approvals(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		by, perm, reason string
		allowed          bool
	}{
		{"alice", "write", "checked with payments team", true},
		{"bob", "read", "", false},
		{"ghost", "none", "", false},
		{"carol", "admin", "", true},
	}
	if len(got) != len(want) {
		t.Fatalf("approvals = %+v, want %d", got, len(want))
	}
	for i, w := range want {
		if got[i].By != w.by || got[i].Permission != w.perm || got[i].Allowed != w.allowed || got[i].Reason != w.reason || got[i].At.IsZero() {
			t.Errorf("approval %d = %+v, want %+v", i, got[i], w)
		}
	}
	var refusals []string
	for _, c := range f.comments[5] {
		if strings.Contains(c.Body, "schemacanary:refusal") {
			refusals = append(refusals, c.Body)
		}
	}
	if len(refusals) != 2 {
		t.Fatalf("%d refusal replies after 3 calls, want 2 (bob, ghost once each): %q", len(refusals), refusals)
	}
	if !strings.Contains(refusals[0], "@bob") || !strings.Contains(refusals[0], `"read"`) || !strings.Contains(refusals[1], "@ghost") {
		t.Errorf("refusals = %q", refusals)
	}
}

// TestGitHubApprovalsCannotBeBorrowed: an approval counts only on the pull
// request that really merged the change (GitHub's "pull requests associated
// with a commit", not the "(#N)" of a commit message), and only when made
// after the last push to it.
func TestGitHubApprovalsCannotBeBorrowed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeGitHub(t)
	f.perms = map[string]string{"alice": "write", "carol": "admin"}
	push := time.Now().Add(-time.Hour)
	f.mergedPullAt(5, "merge5", push.Add(-24*time.Hour)) // an old PR with an approval
	f.mergedPullAt(7, "merge7", push)                    // the PR that really merged the change
	old := f.addComment(5, "alice", "/schemacanary approve")
	old.CreatedAt, old.UpdatedAt = push.Add(-23*time.Hour), push.Add(-23*time.Hour)
	early := f.addComment(7, "carol", "/schemacanary approve before the last push")
	early.CreatedAt, early.UpdatedAt = push.Add(-10*time.Minute), push.Add(-10*time.Minute)
	g := newTestGitHub(t, f)

	// The commit message says "(#5)", so ref.PR is 5; the merge commit is PR 7's.
	ref := ChangeRef{Version: 12, PR: 5, MergeCommit: "merge7", SHA256: "abc"}
	got, err := g.Approvals(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].By != "carol" || got[0].Allowed || !strings.Contains(got[0].Why, "after the last push") || got[0].PR != 7 {
		t.Fatalf("approvals %+v: PR 5's old approval must not count, carol's came before the last push", got)
	}
	f.addComment(7, "carol", "/schemacanary approve reviewed the merged file")
	if got, err = g.Approvals(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n := len(got); n != 2 || !got[1].Allowed || got[1].By != "carol" {
		t.Fatalf("approvals %+v, want carol's new approval to count", got)
	}
	// A commit no merged pull request holds: nothing to approve on GitHub.
	if got, err = g.Approvals(ctx, ChangeRef{Version: 13, PR: 5, MergeCommit: "direct-push"}); err != nil || len(got) != 0 {
		t.Fatalf("direct push: %+v, %v", got, err)
	}
}

// seedRepo creates main with a merged migration and a later commit; it
// returns the merge commit.
func seedRepo(f *fakeGitHub, laterEdit bool) string {
	f.commitFiles("main", "init", map[string]string{"migrations/0001_init.sql": testMigration, "README.md": "hi\n"})
	f.commitFiles("feature", "add 0002", map[string]string{"migrations/0001_init.sql": testMigration, "README.md": "hi\n", "migrations/0002_add_c.sql": testMigration})
	merge := f.commitFiles("main", "Merge pull request #12 from acme/feature", map[string]string{"migrations/0002_add_c.sql": testMigration}, f.refs["heads/feature"])
	later := map[string]string{"migrations/0003_later.sql": testMigration}
	if laterEdit {
		later["migrations/0002_add_c.sql"] = testMigration + "-- edited\n"
	}
	f.commitFiles("main", "later", later)
	return merge
}

func TestGitHubOpenRevertIdempotentAndMerged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeGitHub(t)
	merge := seedRepo(f, false)
	headBefore := f.refs["heads/main"]
	g := newTestGitHub(t, f)
	ref := ChangeRef{Version: 2, PR: 12, Path: "migrations/0002_add_c.sql", MergeCommit: merge}
	if ok, err := g.RevertMerged(ctx, ref); err != nil || ok {
		t.Fatalf("revert merged before revert: %v %v", ok, err)
	}
	req := RevertRequest{Change: ref, Body: "KPI `p99 SELECT orders` failed on pg-1: +40% vs control (p=0.001)."}
	rv, err := g.OpenRevert(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if rv.Branch != "schemacanary/revert-2" || rv.PR == 0 || !strings.HasSuffix(rv.URL, fmt.Sprintf("/pull/%d", rv.PR)) {
		t.Fatalf("revert = %+v", rv)
	}
	files := f.filesAt("heads/schemacanary/revert-2")
	if _, ok := files["migrations/0002_add_c.sql"]; ok {
		t.Error("revert branch still has the migration")
	}
	for _, keep := range []string{"migrations/0001_init.sql", "migrations/0003_later.sql", "README.md"} {
		if _, ok := files[keep]; !ok {
			t.Errorf("revert branch lost %s", keep)
		}
	}
	c := f.commits[rv.Commit]
	if c == nil || len(c.Parents) != 1 || c.Parents[0] != headBefore || !strings.Contains(c.Message, "This reverts commit "+merge) {
		t.Fatalf("revert commit = %+v, want parent %s", c, headBefore)
	}
	pr := f.pulls[0]
	if pr.Base != "main" || pr.Head != rv.Branch || !strings.Contains(pr.Body, "p99 SELECT orders") || !strings.Contains(pr.Body, "#12") {
		t.Errorf("pull request = %+v", pr)
	}
	again, err := g.OpenRevert(ctx, req)
	if err != nil || *again != *rv {
		t.Fatalf("second open revert = %+v, %v; want %+v", again, err, rv)
	}
	if len(f.pulls) != 1 || f.hit("POST /git/refs") != 1 || f.hit("POST /git/commits") != 1 {
		t.Errorf("second call created things: pulls=%d refs=%d commits=%d", len(f.pulls), f.hit("POST /git/refs"), f.hit("POST /git/commits"))
	}
	if ok, err := g.RevertMerged(ctx, ref); err != nil || ok {
		t.Fatalf("revert merged while PR open: %v %v", ok, err)
	}
	f.mergePull(rv.PR)
	if ok, err := g.RevertMerged(ctx, ref); err != nil || !ok {
		t.Fatalf("revert merged after merge: %v %v", ok, err)
	}
}

func TestGitHubOpenRevertConflict(t *testing.T) {
	t.Parallel()
	f := newFakeGitHub(t)
	merge := seedRepo(f, true)
	g := newTestGitHub(t, f)
	_, err := g.OpenRevert(context.Background(), RevertRequest{Change: ChangeRef{Version: 2, MergeCommit: merge}})
	if !errors.Is(err, ErrRevertConflict) || !strings.Contains(err.Error(), "migrations/0002_add_c.sql") {
		t.Fatalf("err = %v, want ErrRevertConflict naming the file", err)
	}
	if f.hit("POST /git/refs") != 0 || len(f.pulls) != 0 {
		t.Error("a conflicting revert created a ref or PR")
	}
}

func TestGitHubRevertMergedByPath(t *testing.T) {
	t.Parallel()
	f := newFakeGitHub(t)
	seedRepo(f, false)
	g := newTestGitHub(t, f)
	ref := ChangeRef{Version: 2, Path: "migrations/0002_add_c.sql"}
	if ok, err := g.RevertMerged(context.Background(), ref); err != nil || ok {
		t.Fatalf("before: %v %v", ok, err)
	}
	f.commitFiles("main", "revert by hand", map[string]string{"migrations/0002_add_c.sql": ""})
	if ok, err := g.RevertMerged(context.Background(), ref); err != nil || !ok {
		t.Fatalf("after manual delete: %v %v", ok, err)
	}
}

func TestGitHubWaitsForRateLimits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		inject func(f *fakeGitHub)
	}{
		{"primary 403", func(f *fakeGitHub) { f.primaryLimits = 1 }},
		{"secondary 403", func(f *fakeGitHub) { f.secondaryLimits = 1 }},
		{"secondary 429", func(f *fakeGitHub) { f.tooManyRequests = 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGitHub(t)
			g := newTestGitHub(t, f)
			f.mu.Lock()
			c.inject(f)
			f.mu.Unlock()
			start := time.Now()
			if err := g.Comment(context.Background(), ChangeRef{Version: 1, PR: 1}, "decision", "ok"); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.comments[1]) != 1 {
				t.Fatalf("%d comments after rate limit, want 1", len(f.comments[1]))
			}
			if f.refusedEarly != 0 {
				t.Errorf("%d requests retried before the limit reset", f.refusedEarly)
			}
			limit := f.resetAt
			if limit.IsZero() {
				limit = f.retryAfterUntil
			}
			if len(f.servedAfter) == 0 || f.servedAfter[0].Before(limit) {
				t.Errorf("first request served at %v, before the limit ended at %v", f.servedAfter, limit)
			}
			if time.Since(start) < 900*time.Millisecond {
				t.Errorf("did not wait: %s", time.Since(start))
			}
		})
	}
}

func TestGitHubRateLimitWaitIsBounded(t *testing.T) {
	t.Parallel()
	f := newFakeGitHub(t)
	f.primaryLimits = 1
	g := newTestGitHub(t, f, WithMaxRateLimitWait(100*time.Millisecond))
	start := time.Now()
	err := g.Comment(context.Background(), ChangeRef{Version: 1, PR: 1}, "decision", "ok")
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("waited %s despite a 100ms bound", time.Since(start))
	}
	// A cancelled context ends a wait at once.
	f2 := newFakeGitHub(t)
	f2.secondaryLimits = 1
	g2 := newTestGitHub(t, f2)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := g2.Comment(ctx, ChangeRef{Version: 1, PR: 1}, "decision", "ok"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestNewGitHubValidates(t *testing.T) {
	t.Parallel()
	f := newFakeGitHub(t)
	cases := []struct {
		name               string
		owner, repo, token string
		opts               []GitHubOption
	}{
		{"no owner", "", "db", "t", nil},
		{"slash", "a/b", "db", "t", nil},
		{"no token", "a", "db", "", nil},
		{"bad url", "a", "db", "t", []GitHubOption{WithGitHubBaseURL("ftp://x")}},
		{"bad url 2", "a", "db", "t", []GitHubOption{WithGitHubBaseURL("https://exa mple.com")}},
		{"bad branch", "a", "db", "t", []GitHubOption{WithGitHubBranch("a b")}},
		{"bad wait", "a", "db", "t", []GitHubOption{WithMaxRateLimitWait(0)}},
	}
	for _, c := range cases {
		if _, err := NewGitHub(c.owner, c.repo, c.token, c.opts...); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	// A wrong token gets GitHub's 401, surfaced as an error.
	g, err := NewGitHub(f.owner, f.repo, "wrong", WithGitHubBaseURL(f.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Comment(context.Background(), ChangeRef{Version: 1, PR: 1}, "x", "y"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v, want a 401 error", err)
	}
}

func TestGitHubBaseURLDefaults(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "https://api.github.com", "https://api.github.com/"} {
		g, err := NewGitHub("a", "b", "t", WithGitHubBaseURL(u))
		if err != nil {
			t.Fatalf("%q: %v", u, err)
		}
		if got := g.client.BaseURL.String(); got != "https://api.github.com/" {
			t.Errorf("%q: base URL %s", u, got)
		}
	}
	g, err := NewGitHub("a", "b", "t", WithGitHubBaseURL("https://ghe.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if got := g.client.BaseURL.String(); got != "https://ghe.example.com/api/v3/" {
		t.Errorf("GHE base URL %s", got)
	}
}
