package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/audit"
	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// TestEndToEndOperatorAbort: the daemon rolls a change out on a real fleet;
// while it bakes on the canary (a 60 s bake), an operator aborts it over
// the HTTP API with the bearer token. The running rollout takes the abort
// at its next judged interval and rolls the canary back through the
// rollback path: the values the application wrote to the new column are
// archived, the column and the goose row are gone, the rest of the fleet
// was never touched. The change ends rolled_back saying who aborted and
// why, and the audit branch has the abort as a commit by the operator with
// the reason.
func TestEndToEndOperatorAbort(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newE2EWorld(t, "")
	const token = "e2e-operator-token"
	tokFile := filepath.Join(w.dir, "api.token")
	writeTestFile(t, tokFile, token+"\n")
	for old, repl := range map[string]string{
		"  bake: 2s\n":            "  bake: 60s\n  max_bake: 120s\n",
		"  listen: 127.0.0.1:0\n": "  listen: 127.0.0.1:0\n  api_token_file: " + tokFile + "\n",
	} {
		if !strings.Contains(w.cfg, old) {
			t.Fatalf("e2e config changed: no %q", old)
		}
		w.cfg = strings.Replace(w.cfg, old, repl, 1)
	}
	w.merge("00001_add_tag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN tag text;", "ALTER TABLE items DROP COLUMN tag;"))
	d := w.build(ctx)
	go func() { _ = d.Server.Serve(ctx) }()
	state := func() *change.Request {
		c, err := d.Store.Get(ctx, 1)
		if errors.Is(err, change.ErrNotFound) {
			return &change.Request{Version: 1} // not ingested yet
		}
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The leader: passes until the change is out of its rollout (one pass
	// runs the whole rollout).
	done := make(chan error, 1)
	go func() {
		for range 20 {
			if _, err := d.Reconcile.Reconcile(ctx); err != nil {
				done <- err
				return
			}
			c, err := d.Store.Get(ctx, 1)
			if errors.Is(err, change.ErrNotFound) {
				continue
			}
			if err != nil {
				done <- err
				return
			}
			switch c.State {
			case change.StateAwaitingApproval:
				if _, err := reconciler.Approve(ctx, d.Store, 1, "bob"); err != nil {
					done <- err
					return
				}
			case change.StateRolledBack, change.StateDone, change.StateFailed, change.StateInconclusive:
				done <- nil
				return
			}
		}
		done <- fmt.Errorf("no end in 20 passes")
	}()
	for c := state(); c.State != change.StateBaking; c = state() {
		select {
		case err := <-done:
			t.Fatalf("the rollout ended before the abort (%v): %s %s", err, c.State, c.Reason)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// The application writes to the new column during the bake.
	pgtest.Exec(t, w.fleet["c1"], "UPDATE items SET tag = 't' || id WHERE id <= 100")
	abort := func(auth string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.Server.Addr()+"/api/changes/1/abort",
			strings.NewReader(`{"by": "alice", "why": "checkout errors since the canary"}`))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := abort("Bearer wrong"); code != http.StatusUnauthorized {
		t.Fatalf("abort with a wrong token: %d %s", code, body)
	}
	asked := time.Now()
	if code, body := abort("Bearer " + token); code != http.StatusAccepted {
		t.Fatalf("abort: %d %s", code, body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the abort was not taken")
	}
	t.Logf("abort to rolled back: %s (bake 60 s)", time.Since(asked))
	settle(t, ctx, d)
	c := state()
	if c.State != change.StateRolledBack || !strings.Contains(c.Reason, "aborted by alice: checkout errors since the canary") {
		t.Fatalf("after the abort: %s %q", c.State, c.Reason)
	}
	c1, m1 := w.fleet["c1"], w.fleet["m1"]
	if pgtest.QueryInt(t, c1, "SELECT count(*) FROM goose_db_version WHERE version_id = 1 AND is_applied") != 0 ||
		pgtest.QueryInt(t, c1, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'tag'") != 0 {
		t.Error("the canary still holds the change")
	}
	if n := pgtest.QueryInt(t, c1, "SELECT count(*) FROM schemacanary_archive.items__v1 WHERE tag = 't' || id"); n != 100 {
		t.Errorf("the archive holds %d of the 100 values written during the bake", n)
	}
	if pgtest.QueryInt(t, m1, "SELECT count(*) FROM pg_tables WHERE tablename = 'goose_db_version'") != 0 &&
		pgtest.QueryInt(t, m1, "SELECT count(*) FROM goose_db_version WHERE version_id = 1") != 0 {
		t.Error("m1 was touched")
	}
	a, err := audit.OpenAudit(ctx, w.origin)
	if err != nil {
		t.Fatal(err)
	}
	trs, err := a.History(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var op, rb bool
	for _, tr := range trs {
		if tr.Actor == "alice" && strings.HasPrefix(tr.Step, "operator abort") &&
			tr.Reason == "operator abort by alice via api: checkout errors since the canary" {
			op = true
		}
		rb = rb || tr.To == string(change.StateRolledBack) && strings.Contains(tr.Reason, "aborted by alice")
	}
	if !op || !rb {
		for _, tr := range trs {
			t.Logf("audit: %s -> %s #%s by %s: %s", tr.From, tr.To, tr.Step, tr.Actor, tr.Reason)
		}
		t.Fatalf("audit branch: operator abort recorded %v, rollback saying who %v", op, rb)
	}
}

// TestEndToEndRevertAfterDone: a change done on the whole real fleet is
// reverted by an operator within the revert window. The leader rolls it
// back everywhere through the rollback path: the values written to the
// new column meanwhile are archived on each instance, the column and the
// goose rows are gone, and the revert branch is pushed, so Git again says
// what the fleet runs.
func TestEndToEndRevertAfterDone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newE2EWorld(t, "rollback:\n  revert_window: 1h\n")
	w.merge("00001_add_tag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN tag text;", "ALTER TABLE items DROP COLUMN tag;"))
	d := w.build(ctx)
	settle(t, ctx, d)
	if c, err := d.Store.Get(ctx, 1); err == nil && c.State == change.StateAwaitingApproval {
		if _, err := reconciler.Approve(ctx, d.Store, 1, "bob"); err != nil {
			t.Fatal(err)
		}
		settle(t, ctx, d)
	}
	if c, err := d.Store.Get(ctx, 1); err != nil {
		t.Fatal(err)
	} else if c.State != change.StateDone {
		t.Fatalf("change 1 is %s (%s), want done", c.State, c.Reason)
	}
	for _, dsn := range w.fleet {
		pgtest.Exec(t, dsn, "UPDATE items SET tag = 'v' || id WHERE id <= 40")
	}
	a := change.OperatorAction{Version: 1, Command: change.CommandRevert, By: "alice", Why: "p99 of checkout doubled", Source: "cli"}
	// rollback.revert_window, as configured, decides: a window already
	// past refuses the revert and changes nothing; the configured hour
	// accepts it.
	commander := func(yaml string) Commander {
		cfg, err := ParseConfig([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		return NewCommander(d.Store, cfg)
	}
	if _, _, err := commander(strings.Replace(w.cfg, "revert_window: 1h", "revert_window: 1ms", 1)).Command(ctx, a); !errors.Is(err, change.ErrRefused) ||
		!strings.Contains(err.Error(), "revert_window") {
		t.Fatalf("a revert after a 1ms window: %v, want refused naming rollback.revert_window", err)
	}
	if c, err := d.Store.Get(ctx, 1); err != nil || c.State != change.StateDone {
		t.Fatalf("a refused revert changed the change: %v %v", c, err)
	}
	if _, _, err := commander(w.cfg).Command(ctx, a); err != nil {
		t.Fatal(err)
	}
	settle(t, ctx, d)
	c, err := d.Store.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateRolledBack || c.Reason != "reverted by alice: p99 of checkout doubled" || c.RevertBranch == "" {
		t.Fatalf("after the revert: %s %q, revert branch %q", c.State, c.Reason, c.RevertBranch)
	}
	for name, dsn := range w.fleet {
		if pgtest.QueryInt(t, dsn, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'tag'") != 0 ||
			pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id = 1 AND is_applied") != 0 {
			t.Errorf("%s still holds the change", name)
		}
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM schemacanary_archive.items__v1 WHERE tag = 'v' || id"); n != 40 {
			t.Errorf("%s: the archive holds %d of the 40 values written after the change", name, n)
		}
	}
	if got := auditStates(t, ctx, w.origin, 1); !slices.Equal(got[len(got)-3:], []string{"done", "rolling_back", "rolled_back"}) {
		t.Errorf("audit of 1: %v", got)
	}
}
