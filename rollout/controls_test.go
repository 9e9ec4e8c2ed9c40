package rollout

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout/judge"
	"github.com/schemacanary/schemacanary/rollout/kpi"
)

// fakeControls is a Controls the test sets as an operator would.
type fakeControls struct {
	mu   sync.Mutex
	cmds Commands
	read int
}

func (f *fakeControls) Commands(context.Context, int64) (Commands, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.read++
	c := f.cmds
	c.Excluded = map[string]Action{}
	for k, v := range f.cmds.Excluded {
		c.Excluded[k] = v
	}
	return c, nil
}

func (f *fakeControls) set(fn func(*Commands)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.cmds)
}

// checkpoints records a run's checkpoints and signals each phase reached.
type checkpoints struct {
	mu    sync.Mutex
	last  Checkpoint
	phase map[Phase]chan struct{}
}

func newCheckpoints() *checkpoints {
	return &checkpoints{phase: map[Phase]chan struct{}{PhaseBake: make(chan struct{}), PhasePromote: make(chan struct{})}}
}

func (c *checkpoints) save(cp Checkpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = cp
	if ch, ok := c.phase[cp.Phase]; ok {
		close(ch)
		delete(c.phase, cp.Phase)
	}
}

func (c *checkpoints) wait(t *testing.T, p Phase, ch chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("the run never reached phase %s", p)
	}
}

func (c *checkpoints) reached(p Phase) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.phase[p]
}

// gooseHolds reports whether dsn's goose table holds version.
func gooseHolds(t *testing.T, dsn string, version int) bool {
	t.Helper()
	if pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_tables WHERE tablename = 'goose_db_version'") == 0 {
		return false
	}
	return pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id = $1 AND is_applied", version) > 0
}

// canaryAndMain is a fleet of two fresh databases, c1 (the canary wave)
// and m1 (the rest, one wave), each set up with stmts.
func canaryAndMain(t *testing.T, stmts ...string) (fleet *Fleet, c1, m1 string) {
	t.Helper()
	c1, m1 = pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	for _, dsn := range []string{c1, m1} {
		pgtest.Exec(t, dsn, stmts...)
	}
	fleet, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: c1}, {Name: "m1", DSN: m1}},
		FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	if err != nil {
		t.Fatal(err)
	}
	return fleet, c1, m1
}

// longIdleCanary bakes long (30 s, max 60 s) on an idle fleet, so only an
// operator's command ends a bake within a test's time; waves bake 1 s.
func longIdleCanary(t *testing.T) *Canary {
	t.Helper()
	cfg := fastCanary()
	cfg.Baseline, cfg.Bake, cfg.MaxBake, cfg.WaveBake = 400*time.Millisecond, 30*time.Second, 60*time.Second, time.Second
	c, err := NewCanary(cfg, RollbackConfig{}, WithSources(idleSource{}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAbortDuringBakeRollsBackLosslessly: a change baking on a real canary
// is aborted by an operator; the run rolls the canary back through the
// rollback path at the next judged interval (the notes written during the
// bake are archived, the column and the goose row are gone), the rest of
// the fleet is never touched, and the result says who aborted and why.
func TestAbortDuringBakeRollsBackLosslessly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fleet, c1, m1 := canaryAndMain(t, "CREATE TABLE orders (id bigserial PRIMARY KEY, total int)", "INSERT INTO orders (total) SELECT generate_series(1, 500)")
	ch := testChange(920, "add_note", "ALTER TABLE orders ADD COLUMN note text;", "ALTER TABLE orders DROP COLUMN note;",
		[]string{"public.orders"}, "AccessExclusiveLock")
	ch.Archive = []ArchiveTarget{{Schema: "public", Table: "orders", Column: "note"}}
	ctl := &fakeControls{}
	cps := newCheckpoints()
	baking := cps.reached(PhaseBake)
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := longIdleCanary(t).Run(ctx, fleet, ch, nil, OnCheckpoint(cps.save), Controlled(ctl))
		done <- out{res, err}
	}()
	cps.wait(t, PhaseBake, baking)
	// The application writes to the new column during the bake.
	pgtest.Exec(t, c1, "UPDATE orders SET note = 'n' || id WHERE id <= 100")
	asked := time.Now()
	ctl.set(func(c *Commands) { c.Abort = &Action{By: "alice", Why: "pager: checkout errors"} })
	var o out
	select {
	case o = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the abort was not taken")
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	res := o.res
	took := time.Since(asked)
	if res.Status != StatusRolledBack || res.Reason != "aborted by alice: pager: checkout errors" {
		t.Fatalf("want rolled back for the abort, got %s: %s", res.Status, res.Reason)
	}
	if cps.last.Phase != PhaseDone {
		t.Errorf("last checkpoint %+v", cps.last)
	}
	for _, ir := range res.Instances {
		if ir.Applied {
			t.Errorf("%s still holds the change", ir.Name)
		}
		if ir.Name == "m1" && (ir.Apply != nil || ir.Rollback != nil) {
			t.Errorf("m1 was touched: %+v", ir)
		}
		if ir.Name == "c1" && (ir.Rollback == nil || len(ir.Rollback.Archived) != 1) {
			t.Fatalf("c1 not rolled back with its archive: %+v", ir.Rollback)
		}
	}
	archive := res.Instances[0].Rollback.Archived[0].Table
	if n := pgtest.QueryInt(t, c1, "SELECT count(*) FROM "+archive+" WHERE note = 'n' || id"); n != 100 {
		t.Errorf("archive %s holds %d of the 100 notes", archive, n)
	}
	if gooseHolds(t, c1, 920) || pgtest.QueryInt(t, c1, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'note'") != 0 {
		t.Error("the canary still holds the change")
	}
	if gooseHolds(t, m1, 920) {
		t.Error("m1 got the change")
	}
	t.Logf("abort to rolled back: %s", took)
}

// TestPauseHoldsTheWaveUntilResume: a pause given during the canary's bake
// keeps the bake going past max_bake without promoting; the next wave is
// not applied until the operator resumes, then the rollout completes.
func TestPauseHoldsTheWaveUntilResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fleet, c1, m1 := canaryAndMain(t, "CREATE TABLE items (id int)")
	cfg := fastCanary()
	cfg.Baseline, cfg.Bake, cfg.MaxBake, cfg.WaveBake = 400*time.Millisecond, time.Second, 2*time.Second, time.Second
	cfg.OnInconclusive = InconclusivePromote
	c, err := NewCanary(cfg, RollbackConfig{}, WithSources(idleSource{}))
	if err != nil {
		t.Fatal(err)
	}
	ch := testChange(921, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;",
		[]string{"public.items"}, "AccessExclusiveLock")
	ctl := &fakeControls{}
	ctl.set(func(c *Commands) { c.Paused = &Action{By: "bob", Why: "black friday"} })
	cps := newCheckpoints()
	baking, promoting := cps.reached(PhaseBake), cps.reached(PhasePromote)
	done := make(chan *Result, 1)
	go func() {
		res, err := c.Run(ctx, fleet, ch, nil, OnCheckpoint(cps.save), Controlled(ctl))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	// Paused before it started: nothing is sampled or applied.
	time.Sleep(time.Second)
	if gooseHolds(t, c1, 921) {
		t.Fatal("a paused rollout applied the canary")
	}
	select {
	case <-baking:
		t.Fatal("a paused rollout started baking")
	default:
	}
	ctl.set(func(c *Commands) { c.Paused = nil })
	cps.wait(t, PhaseBake, baking)
	ctl.set(func(c *Commands) { c.Paused = &Action{By: "bob", Why: "again"} })
	// Three times max_bake: a paused bake neither promotes nor gives up.
	time.Sleep(6 * time.Second)
	select {
	case <-promoting:
		t.Fatal("a paused bake promoted")
	default:
	}
	if !gooseHolds(t, c1, 921) || gooseHolds(t, m1, 921) {
		t.Fatal("a paused rollout changed the fleet")
	}
	ctl.set(func(c *Commands) { c.Paused = nil })
	var res *Result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the resumed rollout did not finish")
	}
	if res.Status != StatusPromoted || !gooseHolds(t, m1, 921) {
		t.Fatalf("want promoted on resume, got %s: %s", res.Status, res.Reason)
	}
}

// TestPromoteNowEndsTheBakeWithTheJudgesVerdict: a 30 s bake ends at the
// next interval after an operator's promote-now, on the judge's verdict so
// far (not enough data on an idle fleet, which would otherwise be held
// inconclusive), and the rollout is promoted; the command given for the
// canary wave does not cut the next wave's bake.
func TestPromoteNowEndsTheBakeWithTheJudgesVerdict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fleet, _, m1 := canaryAndMain(t, "CREATE TABLE items (id int)")
	ch := testChange(922, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;",
		[]string{"public.items"}, "AccessExclusiveLock")
	ctl := &fakeControls{}
	cps := newCheckpoints()
	baking := cps.reached(PhaseBake)
	done := make(chan *Result, 1)
	start := time.Now()
	go func() {
		res, err := longIdleCanary(t).Run(ctx, fleet, ch, nil, OnCheckpoint(cps.save), Controlled(ctl))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	cps.wait(t, PhaseBake, baking)
	time.Sleep(time.Second)
	ctl.set(func(c *Commands) { c.PromoteNow = &Action{By: "carol", Why: "release train", Wave: 0} })
	var res *Result
	select {
	case res = <-done:
	case <-time.After(25 * time.Second):
		t.Fatal("promote-now did not end the 30 s bake")
	}
	if res.Status != StatusPromoted || !gooseHolds(t, m1, 922) {
		t.Fatalf("want promoted, got %s: %s", res.Status, res.Reason)
	}
	d := res.Decision
	if d == nil || d.Outcome != judge.Extend || !strings.Contains(d.Reason, "promote-now (carol: release train)") {
		t.Fatalf("canary decision %+v", d)
	}
	if len(res.Waves) != 1 || strings.Contains(res.Waves[0].Decision.Reason, "promote-now") {
		t.Errorf("the canary's promote-now cut wave 1's bake: %+v", res.Waves)
	}
	t.Logf("finished %s after the start (bake 30 s)", time.Since(start))
}

// TestExcludedTargetIsNeverTouched: an instance an operator excluded is
// skipped by its wave, reported as excluded, and never gets the change;
// the others are promoted.
func TestExcludedTargetIsNeverTouched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c1, m1, m2 := pgtest.NewDatabase(t), pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	for _, dsn := range []string{c1, m1, m2} {
		pgtest.Exec(t, dsn, "CREATE TABLE items (id int)")
	}
	fleet, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: c1}, {Name: "m1", DSN: m1}, {Name: "m2", DSN: m2}},
		FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastCanary()
	cfg.Baseline, cfg.Bake, cfg.MaxBake = 400*time.Millisecond, time.Second, time.Second
	cfg.OnInconclusive = InconclusivePromote
	c, err := NewCanary(cfg, RollbackConfig{}, WithSources(idleSource{}))
	if err != nil {
		t.Fatal(err)
	}
	ch := testChange(923, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;",
		[]string{"public.items"}, "AccessExclusiveLock")
	ctl := &fakeControls{}
	ctl.set(func(c *Commands) {
		c.Excluded = map[string]Action{"m2": {By: "dave", Why: "customer freeze"}}
	})
	res, err := c.Run(ctx, fleet, ch, nil, Controlled(ctl))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusPromoted || !strings.Contains(res.Reason, "excluded by an operator, without the change: m2") {
		t.Fatalf("got %s: %s", res.Status, res.Reason)
	}
	for _, ir := range res.Instances {
		switch ir.Name {
		case "m2":
			if ir.Applied || ir.Apply != nil || ir.Excluded != "excluded by dave: customer freeze" {
				t.Errorf("m2: %+v", ir)
			}
		default:
			if !ir.Applied || ir.Excluded != "" {
				t.Errorf("%s: %+v", ir.Name, ir)
			}
		}
	}
	if gooseHolds(t, m2, 923) || !gooseHolds(t, m1, 923) {
		t.Error("the goose tables disagree with the result")
	}
}

// slowCanarySource reports latency samples: 1 ms everywhere, 100 ms on
// instance c1 once harmful is set (the change is applied there). Like a
// real source it answers each window at its end.
type slowCanarySource struct{ harmful atomic.Bool }

func (*slowCanarySource) Name() string { return "slow-canary" }

func (s *slowCanarySource) Collect(ctx context.Context, t kpi.Target, _, to time.Time) ([]judge.Sample, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(to)):
	}
	base := 1.0
	if t.Instance == "c1" && s.harmful.Load() {
		base = 100
	}
	out := make([]judge.Sample, 5)
	for i := range out {
		out[i] = judge.Sample{Instance: t.Instance, KPI: "latency:app", At: to, Value: base * (1 + 0.05*float64(i))}
	}
	return out, nil
}

// TestPromoteNowFailStillRollsBack: promote-now ends a bake that would
// otherwise need 1000 failing intervals in a row, and the judge's verdict
// on the data so far (the canary 100x slower) is a Fail: the canary is
// rolled back, not promoted.
func TestPromoteNowFailStillRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fleet, c1, m1 := canaryAndMain(t, "CREATE TABLE items (id int)")
	src := &slowCanarySource{}
	cfg := fastCanary()
	cfg.Baseline, cfg.Bake, cfg.MaxBake, cfg.ConsecutiveFails = time.Second, 30*time.Second, 60*time.Second, 1000
	c, err := NewCanary(cfg, RollbackConfig{}, WithSources(src))
	if err != nil {
		t.Fatal(err)
	}
	ch := testChange(924, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;",
		[]string{"public.items"}, "AccessExclusiveLock")
	ctl := &fakeControls{}
	cps := newCheckpoints()
	baking := cps.reached(PhaseBake)
	done := make(chan *Result, 1)
	go func() {
		res, err := c.Run(ctx, fleet, ch, nil, OnCheckpoint(cps.save), Controlled(ctl))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	cps.wait(t, PhaseBake, baking)
	src.harmful.Store(true)
	time.Sleep(3 * time.Second)
	ctl.set(func(c *Commands) { c.PromoteNow = &Action{By: "carol", Why: "release train", Wave: 0} })
	var res *Result
	select {
	case res = <-done:
	case <-time.After(25 * time.Second):
		t.Fatal("promote-now did not end the 30 s bake")
	}
	if res.Status != StatusRolledBack || res.Decision == nil || res.Decision.Outcome != judge.Fail || !strings.Contains(res.Reason, "promote-now (carol: release train)") {
		t.Fatalf("want rolled back on the judge's Fail, got %s: %s", res.Status, res.Reason)
	}
	if gooseHolds(t, c1, 924) || gooseHolds(t, m1, 924) {
		t.Error("the change is still on the fleet")
	}
}
