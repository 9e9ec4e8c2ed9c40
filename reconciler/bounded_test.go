package reconciler

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
	"github.com/schemacanary/schemacanary/reconciler/store/storetest"
	"github.com/schemacanary/schemacanary/reconciler/web"
)

// slowAssessor is fakeAssessor, except that a file whose path contains
// "slow" blocks (as a huge file would) until released or until its context
// ends: it honours cancellation like analysis.Analyze.
type slowAssessor struct {
	fakeAssessor
	started chan string   // receives the path of each slow analysis begun
	release chan struct{} // closed: slow analyses finish
}

func newSlowAssessor() *slowAssessor {
	return &slowAssessor{started: make(chan string, 16), release: make(chan struct{})}
}

func (a *slowAssessor) Assess(ctx context.Context, in assess.Input) (*assess.Assessment, error) {
	if strings.Contains(in.Migration.Path, "slow") {
		a.started <- in.Migration.Path
		select {
		case <-a.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return a.fakeAssessor.Assess(ctx, in)
}

func newSlowWorld(t *testing.T, as Assessor, opts ...Option) *fakeWorld {
	t.Helper()
	w := &fakeWorld{store: storetest.Open(t), src: newFakeSource(), roll: newFakeRoller([]string{"c1"}, []string{"m1", "m2"}),
		forge: newFakeForge(), audit: newFakeAudit()}
	rec, err := New(w.store, w.src, as, w.roll, w.forge, w.audit, opts...)
	if err != nil {
		t.Fatal(err)
	}
	w.rec = rec
	return w
}

// deadlock bounds a step that must not wait for a blocked analysis: it is
// not a speed target (the blocked analysis never ends by itself, so a step
// that waited for it would hang until this generous limit).
const deadlock = 30 * time.Second

// TestAnalysisTimeout: an analysis that does not end is stopped by the
// per-change timeout at the head of the queue (changes are assessed only
// there); each pass counts a failed attempt naming the timeout, and after
// max_attempts the change fails and releases the queue.
func TestAnalysisTimeout(t *testing.T) {
	t.Parallel()
	as := newSlowAssessor()
	w := newSlowWorld(t, as, WithAnalysisTimeout(200*time.Millisecond), WithMaxAttempts(2))
	w.src.merge(t, "migrations/00001_risky.sql", migrationtest.Source(9, "ALTER TABLE t ADD COLUMN x int;", "ALTER TABLE t DROP COLUMN x;"))
	w.src.merge(t, "migrations/00002_slow_huge.sql", migrationtest.Source(2, "INSERT INTO t VALUES (1);", "DELETE FROM t WHERE id = 1;"))
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	analyses := func() int {
		n := 0
		for {
			select {
			case <-as.started:
				n++
			default:
				return n
			}
		}
	}

	// Behind the head, nothing is analyzed.
	w.reconcile(t)
	if got := w.state(t, 1); got != change.StateAwaitingApproval {
		t.Fatalf("head: %s, want awaiting_approval", got)
	}
	if got := w.state(t, 2); got != change.StateDiscovered {
		t.Fatalf("change behind the head: %s, want discovered", got)
	}
	if n := analyses(); n != 0 {
		t.Errorf("%d analyses of the change behind the head, want 0", n)
	}

	if _, err := Approve(ctx, w.store, 1, "bob"); err != nil {
		t.Fatal(err)
	}
	_, err := w.rec.Reconcile(ctx)
	if err == nil || !strings.Contains(err.Error(), "did not finish within 200ms (prediction.timeout)") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("pass at the timed-out head: %v, want the timeout named", err)
	}
	if got := w.state(t, 1); got != change.StateDone {
		t.Errorf("approved change: %s, want done", got)
	}
	w.reconcile(t)
	c, err := w.store.Get(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateFailed || !strings.Contains(c.Reason, "prediction.timeout") {
		t.Errorf("after max_attempts: %s %q, want failed naming prediction.timeout", c.State, c.Reason)
	}
	if n := analyses(); n != 2 {
		t.Errorf("%d analyses at the head, want 2 (one per attempt)", n)
	}
}

// TestServesWhileAnalyzing: while the loop is stuck in the analysis of the
// head, the status page, the JSON API and the webhook, served from the same
// control store, answer (they never wait for the loop); cancelling the
// loop's context (SIGTERM) ends it, since the analysis honours it.
func TestServesWhileAnalyzing(t *testing.T) {
	t.Parallel()
	as := newSlowAssessor()
	w := newSlowWorld(t, as)
	w.src.merge(t, "migrations/00001_slow_big.sql", migrationtest.Source(2, "CREATE TABLE t (id int);", "DROP TABLE t;"))
	var triggers atomic.Int32
	status, err := web.NewStatusHandler(store.NewStatus(w.store))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.NewServer(w.store, NewMetrics().Registry(), web.WithStatusPage(status),
		web.WithWebhook(secret.NewSecret("hush"), func() { triggers.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := w.rec.Reconcile(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("the cancelled pass returned %v, want context.Canceled", err)
		}
	}()
	select {
	case <-as.started: // the loop is inside the head's analysis now
	case <-time.After(deadlock):
		t.Fatal("the loop never analyzed the head")
	}
	client := &http.Client{Timeout: deadlock}
	const push = `{"ref":"refs/heads/main"}`
	for _, rq := range []struct {
		method, path, body, want string
		code                     int
	}{
		{"GET", "/", "", "slow_big", 200},
		{"GET", "/api/changes", "", `"state": "discovered"`, 200},
		{"POST", "/webhook/github", push, "poll triggered", 202},
		{"POST", "/webhook/github", push, "poll triggered", 202}, // triggers coalesce; none blocks
	} {
		req, _ := http.NewRequest(rq.method, ts.URL+rq.path, strings.NewReader(rq.body))
		if rq.method == "POST" {
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-Hub-Signature-256", sign("hush", rq.body))
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s while the loop analyzes: %v", rq.method, rq.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != rq.code || !strings.Contains(string(b), rq.want) {
			t.Errorf("%s %s: %d %.200q, want %d with %q", rq.method, rq.path, resp.StatusCode, b, rq.code, rq.want)
		}
	}
	if n := triggers.Load(); n != 2 {
		t.Errorf("webhook triggered %d polls, want 2", n)
	}
	cancel() // SIGTERM
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(deadlock):
		t.Fatal("the loop did not stop after its context was cancelled")
	}
	if got := w.state(t, 1); got != change.StateDiscovered {
		t.Errorf("after the interrupted analysis: %s, want discovered (resumed by the next leader)", got)
	}
}
