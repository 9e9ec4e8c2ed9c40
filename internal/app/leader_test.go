package app

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/internal/secret"
)

// TestLeaderExactlyOneActs runs three replicas against one control
// database: exactly one leads at any time; when the leader's lock
// connection is killed it stops acting at once and another takes over.
func TestLeaderExactlyOneActs(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var acting atomic.Int32
	var maxActing atomic.Int32
	var terms atomic.Int32
	var wg sync.WaitGroup
	leaders := make([]*Leader, 3)
	for i := range leaders {
		l, err := NewLeader(secret.NewSecret(dsn), &secret.Redactor{}, WithLeaderInterval(100*time.Millisecond), WithLeaderKey(4242))
		if err != nil {
			t.Fatal(err)
		}
		leaders[i] = l
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = l.Run(ctx, func(lctx context.Context) {
				n := acting.Add(1)
				terms.Add(1)
				for {
					if m := maxActing.Load(); n > m {
						maxActing.CompareAndSwap(m, n)
					}
					select {
					case <-lctx.Done():
						acting.Add(-1)
						return
					case <-time.After(10 * time.Millisecond):
						n = acting.Load()
					}
				}
			})
		}()
	}
	waitFor(t, func() bool { return acting.Load() == 1 }, "a leader")
	time.Sleep(500 * time.Millisecond)
	if n := countLeading(leaders); n != 1 {
		t.Fatalf("%d replicas report leading", n)
	}
	// Kill the lock's session: its holder must stop and another must lead.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return terms.Load() >= 2 && acting.Load() == 1 }, "a second term")
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
	if m := maxActing.Load(); m != 1 {
		t.Errorf("%d replicas acted at once", m)
	}
	if n := countLeading(leaders); n != 0 {
		t.Errorf("%d replicas still leading after shutdown", n)
	}
}

func countLeading(ls []*Leader) int {
	n := 0
	for _, l := range ls {
		if l.Leading() {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
