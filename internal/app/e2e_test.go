package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/audit"
	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/internal/secret"
)

// e2eModel is a tiny model that predicts from the risk label only, so the
// test decides which change needs an approval: risk 2 → 0.99, 5 → 0.88,
// 9 → 0.12 against the threshold 0.80.
const e2eModel = `{"format":2,"version":"e2e-risk","threshold":0.8,"intercept":2,"hazards":["risk"],
 "coefficients":[{"name":"risk","mean":5,"scale":1,"weight":-1}],"calibration":{"a":1,"b":0}}`

// e2eWorld is a bare Git repository, a working clone that "merges" by
// pushing to main, a fleet of two real databases with a hot indexed table,
// a control database, and a daemon built from a YAML config.
type e2eWorld struct {
	t      *testing.T
	dir    string
	origin string
	work   string
	fleet  map[string]string // instance → DSN
	cfg    string
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=alice", "GIT_AUTHOR_EMAIL=alice@example.com",
		"GIT_COMMITTER_NAME=alice", "GIT_COMMITTER_EMAIL=alice@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func requireGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git not installed")
		}
		t.Skip("git not installed")
	}
}

// e2eInstance is one fleet instance; an empty DSN means a fresh database on
// the shared cluster.
type e2eInstance struct{ Name, Group, DSN string }

func newE2EWorld(t *testing.T, extraYAML string) *e2eWorld {
	t.Helper()
	return newE2EWorldWith(t, extraYAML, "[canary, 100%]", []e2eInstance{{Name: "c1", Group: "canary"}, {Name: "m1", Group: "main"}})
}

func newE2EWorldWith(t *testing.T, extraYAML, waves string, instances []e2eInstance) *e2eWorld {
	t.Helper()
	requireGit(t)
	w := &e2eWorld{t: t, dir: t.TempDir(), fleet: map[string]string{}}
	w.origin = filepath.Join(w.dir, "origin.git")
	w.work = filepath.Join(w.dir, "work")
	git(t, w.dir, "init", "-q", "--bare", "-b", "main", w.origin)
	git(t, w.dir, "clone", "-q", w.origin, w.work)
	git(t, w.work, "checkout", "-q", "-b", "main")
	os.MkdirAll(filepath.Join(w.work, "migrations"), 0o755)
	writeTestFile(t, filepath.Join(w.work, "README.md"), "migrations\n")
	git(t, w.work, "add", ".")
	git(t, w.work, "commit", "-q", "-m", "init")
	git(t, w.work, "push", "-q", "origin", "main")

	var fleet strings.Builder
	for _, in := range instances {
		name, dsn := in.Name, in.DSN
		if dsn == "" {
			dsn = pgtest.NewDatabase(t)
		}
		w.fleet[name] = dsn
		pgtest.Exec(t, dsn,
			"CREATE TABLE items (id bigserial PRIMARY KEY, v int NOT NULL, note text)",
			"INSERT INTO items (v) SELECT g FROM generate_series(1, 200000) g",
			"CREATE INDEX items_v_idx ON items (v)", "ANALYZE items")
		f := filepath.Join(w.dir, name+".dsn")
		writeTestFile(t, f, dsn+"\n")
		fmt.Fprintf(&fleet, "    - {name: %s, dsn_file: %s, group: %s}\n", name, f, in.Group)
	}
	control := filepath.Join(w.dir, "control.dsn")
	writeTestFile(t, control, pgtest.NewDatabase(t)+"\n")
	model := filepath.Join(w.dir, "model.json")
	writeTestFile(t, model, e2eModel)
	w.cfg = fmt.Sprintf(`repo:
  url: file://%s
  branch: main
  dir: migrations
  clone_dir: %s
control:
  dsn_file: %s
fleet:
  instances:
%s  waves: %s
canary:
  interval: 200ms
  baseline: 2s
  bake: 2s
  # A safe change must not be rolled back by a parallel test suite's CPU
  # bursts: only a doubling counts (the harmful change is ~100x slower).
  judge:
    tolerances: {latency: 1.0}
  kpis:
    pgstat: {disabled: true}
    probes:
      - {name: by_v, sql: "SELECT id FROM items WHERE v = 4242", rate: 25}
prediction:
  threshold: 0.80
  live_catalog: false
  model: %s
http:
  listen: 127.0.0.1:0
forge:
  kind: local
reconcile:
  leader_interval: 100ms
%s`, w.origin, filepath.Join(w.dir, "mirror"), control, fleet.String(), waves, model, extraYAML)
	return w
}

func writeTestFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// merge commits a migration file on main and pushes it.
func (w *e2eWorld) merge(name, src string) {
	w.t.Helper()
	writeTestFile(w.t, filepath.Join(w.work, "migrations", name), src)
	git(w.t, w.work, "add", ".")
	git(w.t, w.work, "commit", "-q", "-m", "add "+name)
	git(w.t, w.work, "push", "-q", "origin", "main")
}

// mergeBranch merges a remote branch into main and pushes (a merged PR).
func (w *e2eWorld) mergeBranch(branch string) {
	w.t.Helper()
	git(w.t, w.work, "fetch", "-q", "origin")
	git(w.t, w.work, "merge", "-q", "--no-edit", "origin/"+branch)
	git(w.t, w.work, "push", "-q", "origin", "main")
}

func (w *e2eWorld) build(ctx context.Context) *Daemon {
	w.t.Helper()
	cfg, err := ParseConfig([]byte(w.cfg))
	if err != nil {
		w.t.Fatal(err)
	}
	red := &secret.Redactor{}
	log := slog.New(secret.NewRedactingHandler(slog.NewTextHandler(testWriter{w.t}, &slog.HandlerOptions{Level: slog.LevelInfo}), red))
	d, err := Build(ctx, cfg, log, red)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(d.Close)
	return d
}

type testWriter struct{ t *testing.T }

func (tw testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		tw.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// settle reconciles until a pass changes nothing.
func settle(t *testing.T, ctx context.Context, d *Daemon) {
	t.Helper()
	for i := 0; i < 20; i++ {
		res, err := d.Reconcile.Reconcile(ctx)
		if err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		if res.Discovered+res.Transitions+res.Rejected == 0 {
			return
		}
	}
	t.Fatal("reconcile did not settle in 20 passes")
}

func auditStates(t *testing.T, ctx context.Context, origin string, v int64) []string {
	t.Helper()
	a, err := audit.OpenAudit(ctx, origin)
	if err != nil {
		t.Fatal(err)
	}
	trs, err := a.History(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tr := range trs {
		out = append(out, tr.To)
	}
	return out
}

// TestEndToEndThreeMergedMigrations takes a safe, a harmful and a risky
// migration through the real daemon components: real Git (local forge, the
// audit branch), real Postgres fleet and control store, the real canary,
// judge and rollback. The safe one reaches done, the harmful one (it drops
// the index a probe query needs) is rolled back with a revert branch, the
// risky one waits for an approval; the audit branch tells each story.
func TestEndToEndThreeMergedMigrations(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := newE2EWorld(t, "")
	w.merge("00001_add_tag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN tag text;", "ALTER TABLE items DROP COLUMN tag;"))
	w.merge("00002_drop_v_idx.sql", migrationtest.Source(5, "DROP INDEX items_v_idx;", "CREATE INDEX items_v_idx ON items (v);"))
	w.merge("00003_add_flag.sql", migrationtest.Source(9, "ALTER TABLE items ADD COLUMN flag boolean;", "ALTER TABLE items DROP COLUMN flag;"))
	d := w.build(ctx)
	settle(t, ctx, d)

	state := func(v int64) change.State {
		c, err := d.Store.Get(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		return c.State
	}
	if s := state(1); s != change.StateDone {
		t.Fatalf("safe change: %s", s)
	}
	if s := state(2); s != change.StateRolledBack {
		t.Fatalf("harmful change: %s", s)
	}
	if s := state(3); s != change.StateDiscovered {
		t.Fatalf("risky change behind the held one: %s (it is assessed when it reaches the head)", s)
	}
	for name, dsn := range w.fleet {
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_idx'"); n != 1 {
			t.Errorf("%s: index missing after the rollback", name)
		}
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id = 1 AND is_applied"); n != 1 {
			t.Errorf("%s: safe change not applied", name)
		}
	}
	// The revert branch exists on the remote; merging it releases the queue.
	if out := git(t, w.dir, "--git-dir", w.origin, "branch", "--list", "schemacanary/revert-2"); !strings.Contains(out, "revert-2") {
		t.Fatalf("no revert branch on origin: %q", out)
	}
	w.mergeBranch("schemacanary/revert-2")
	settle(t, ctx, d)
	if s := state(2); s != change.StateReverted {
		t.Fatalf("harmful change after its revert merged: %s", s)
	}
	if s := state(3); s != change.StateAwaitingApproval {
		t.Fatalf("risky change: %s", s)
	}
	if _, err := reconciler.Approve(ctx, d.Store, 3, "bob"); err != nil {
		t.Fatal(err)
	}
	settle(t, ctx, d)
	if s := state(3); s != change.StateDone {
		t.Fatalf("risky change after approval: %s", s)
	}
	for name, dsn := range w.fleet {
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id IN (1, 3) AND is_applied"); n != 2 {
			t.Errorf("%s: %d of versions 1 and 3 applied", name, n)
		}
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id = 2"); n != 0 {
			t.Errorf("%s: version 2 still recorded", name)
		}
	}

	want := map[int64][]string{
		1: {"discovered", "predicted", "approved", "canary", "baking", "promoting", "done"},
		2: {"discovered", "predicted", "approved", "canary", "baking", "rolling_back", "rolled_back", "reverted"},
		3: {"discovered", "predicted", "awaiting_approval", "approved", "canary", "baking", "promoting", "done"},
	}
	for v, states := range want {
		if got := auditStates(t, ctx, w.origin, v); !slices.Equal(got, states) {
			t.Errorf("audit of %d: %v, want %v", v, got, states)
		}
	}
	a, err := audit.OpenAudit(ctx, w.origin)
	if err != nil {
		t.Fatal(err)
	}
	doc, ok, err := a.ReadChange(ctx, 2)
	if err != nil || !ok {
		t.Fatalf("audit file of 2: %v %v", ok, err)
	}
	for _, s := range []string{"latency:by_v", "schemacanary/revert-2"} {
		if !strings.Contains(string(doc), s) {
			t.Errorf("audit file of 2 lacks %q:\n%s", s, doc)
		}
	}
}

// TestEndToEndInstanceDownMidRollout stops one instance's server while a
// change bakes on the canary: the pre-flight of the next wave cannot reach
// it, so nothing of that wave is applied, and with on_instance_down: hold
// the change is failed with each instance's exact state, the canary left
// as it is.
func TestEndToEndInstanceDownMidRollout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	down := pgtest.NewCluster(t, pgtest.Options{Name: "down"})
	dsn, err := down.CreateDatabase(ctx, "m2")
	if err != nil {
		t.Fatal(err)
	}
	w := newE2EWorldWith(t, "  on_instance_down: hold\n", "[canary, 100%]",
		[]e2eInstance{{Name: "c1", Group: "canary"}, {Name: "m1", Group: "main"}, {Name: "m2", Group: "main", DSN: dsn}})
	w.merge("00001_add_tag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN tag text;", "ALTER TABLE items DROP COLUMN tag;"))
	d := w.build(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := d.Reconcile.Reconcile(ctx)
		done <- err
	}()
	waitFor(t, func() bool {
		c, err := d.Store.Get(ctx, 1)
		return err == nil && c.State == change.StateBaking
	}, "the canary bake")
	if err := down.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Logf("reconcile: %v", err)
	}
	c, err := d.Store.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateFailed {
		t.Fatalf("state %s (%s), want failed", c.State, c.Reason)
	}
	want := map[string]int64{"c1": 1, "m1": 0, "m2": reconciler.Unreachable}
	for in, v := range want {
		if c.Instances[in] != v {
			t.Errorf("%s: reported %d, want %d (%v)", in, c.Instances[in], v, c.Instances)
		}
	}
	if !strings.Contains(c.Reason, "m2") {
		t.Errorf("reason does not name the down instance: %q", c.Reason)
	}
	for in, want := range map[string]int{"c1": 1, "m1": 0} {
		if n := pgtest.QueryInt(t, w.fleet[in], "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'tag'"); n != want {
			t.Errorf("%s: %d column(s) tag, want %d", in, n, want)
		}
	}
	// The failed change holds the queue: a later one waits.
	w.merge("00002_add_flag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN flag boolean;", "ALTER TABLE items DROP COLUMN flag;"))
	res, err := d.Reconcile.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Waiting, "change 1") {
		t.Errorf("queue not held by the failed change: %q", res.Waiting)
	}
	if got := auditStates(t, ctx, w.origin, 1); !slices.Equal(got, []string{"discovered", "predicted", "approved", "canary", "baking", "promoting", "failed"}) {
		t.Errorf("audit of 1: %v", got)
	}
}

// TestEndToEndPredictedFailureRollsBack puts the KPI judge's thresholds out
// of reach (no effect size, error rate or lock wait can fail it) and runs a
// safe and a harmful change under the same probe load, with the shipped
// bootstrap model and the default rollback_below: the harmful change (it
// drops the index the probe needs) is rolled back by the live
// re-prediction alone, the safe one is promoted.
func TestEndToEndPredictedFailureRollsBack(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := newE2EWorld(t, "")
	w.cfg = strings.Replace(w.cfg, "    tolerances: {latency: 1.0}\n",
		"    tolerances: {latency: 1000, error_rate: 1, lock_waits: 1000000}\n    error_rate_limit: 1\n    lock_wait_limit: 1000000\n  consecutive_fails: 1000\n", 1)
	w.cfg = strings.Replace(w.cfg, "  live_catalog: false\n", "", 1)
	w.cfg = regexp.MustCompile(`(?m)^  model: .*\n`).ReplaceAllString(w.cfg, "")
	// A million rows: without its index the probe's lookup is a sequential
	// scan of the whole table, and that stays far slower than an index
	// lookup even when a loaded host queues every probe on both sides.
	for _, dsn := range w.fleet {
		pgtest.Exec(t, dsn, "INSERT INTO items (v) SELECT g FROM generate_series(200001, 1000000) g", "ANALYZE items")
	}
	w.merge("00001_add_tag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN tag text;", "ALTER TABLE items DROP COLUMN tag;"))
	w.merge("00002_drop_v_index.sql", migrationtest.Source(2, "DROP INDEX items_v_idx;", "CREATE INDEX items_v_idx ON items (v);"))
	d := w.build(ctx)
	state := func(v int64) *change.Request {
		c, err := d.Store.Get(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for range 4 {
		settle(t, ctx, d)
		// The bootstrap model may ask for a human on either change; approve
		// it, so that the canary decides.
		for _, v := range []int64{1, 2} {
			if c := state(v); c.State == change.StateAwaitingApproval {
				if _, err := reconciler.Approve(ctx, d.Store, v, "bob"); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if c := state(1); c.State != change.StateDone {
		t.Fatalf("safe change: %s (%s)", c.State, c.Reason)
	}
	c := state(2)
	if c.State != change.StateRolledBack || !strings.Contains(c.Reason, "predicted failure") {
		if det, err := store.NewStatus(d.Store).GetChange(ctx, 2); err == nil && det != nil {
			for _, e := range det.Timeline {
				t.Logf("timeline of 2: %s %s", e.Step, e.Message)
			}
		}
		t.Fatalf("harmful change: %s (%s), want rolled_back for a predicted failure", c.State, c.Reason)
	}
	for name, dsn := range w.fleet {
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_idx'"); n != 1 {
			t.Errorf("%s: index missing after the rollback", name)
		}
	}
	a, err := audit.OpenAudit(ctx, w.origin)
	if err != nil {
		t.Fatal(err)
	}
	doc, ok, err := a.ReadChange(ctx, 2)
	if err != nil || !ok {
		t.Fatalf("audit file of 2: %v %v", ok, err)
	}
	if !strings.Contains(string(doc), "predicted failure") {
		t.Errorf("audit file of 2 does not say predicted failure:\n%s", doc)
	}
	det, err := store.NewStatus(d.Store).GetChange(ctx, 2)
	if err != nil || det == nil {
		t.Fatalf("status of 2: %v", err)
	}
	var seen bool
	for _, e := range det.Timeline {
		seen = seen || strings.Contains(e.Message, "predicted failure")
	}
	if !seen {
		t.Errorf("status page timeline of 2 does not say predicted failure: %+v", det.Timeline)
	}
}
