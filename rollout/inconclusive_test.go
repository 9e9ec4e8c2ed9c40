package rollout

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout/judge"
	"github.com/schemacanary/schemacanary/rollout/kpi"
)

// idleSource is the KPI source of an idle fleet: it answers every window,
// as a real source does (blocking until the window's end), with no data.
type idleSource struct{}

func (idleSource) Name() string { return "idle" }

func (idleSource) Collect(ctx context.Context, _ kpi.Target, _, to time.Time) ([]judge.Sample, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(to)):
		return nil, nil
	}
}

func idleCanary(t *testing.T, policy string) *Canary {
	t.Helper()
	cfg := fastCanary()
	cfg.Baseline, cfg.Bake, cfg.MaxBake = 400*time.Millisecond, time.Second, 2*time.Second
	cfg.OnInconclusive = policy
	c, err := NewCanary(cfg, RollbackConfig{}, WithSources(idleSource{}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIdleFleetIsInconclusive: with no traffic the judge never has enough
// data; at max_bake the change is held on the canary (on_inconclusive:
// hold, the default), not rolled back: the canary keeps it, the rest of the
// fleet does not have it, the run says why, and a resumed run stays held
// until a human promotes it (a run from the promote checkpoint). With
// on_inconclusive: promote it is promoted at once.
func TestIdleFleetIsInconclusive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	goose := func(dsn string) int {
		if pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_tables WHERE tablename = 'goose_db_version'") == 0 {
			return 0
		}
		return pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id = 910")
	}
	for _, policy := range []string{"", InconclusivePromote} {
		name := policy
		if name == "" {
			name = "default hold"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c1, m1 := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
			for _, dsn := range []string{c1, m1} {
				pgtest.Exec(t, dsn, "CREATE TABLE items (id int)")
			}
			fleet, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: c1}, {Name: "m1", DSN: m1}},
				FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
			if err != nil {
				t.Fatal(err)
			}
			c := idleCanary(t, policy)
			ch := testChange(910, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;",
				[]string{"public.items"}, "AccessExclusiveLock")
			var last Checkpoint
			res, err := c.Run(ctx, fleet, ch, nil, OnCheckpoint(func(cp Checkpoint) { last = cp }))
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision == nil || res.Decision.Outcome != judge.Extend || !strings.Contains(res.Decision.Reason, "not enough data after max_bake 2s") {
				t.Fatalf("decision %+v, want Extend saying not enough data after max_bake", res.Decision)
			}
			if policy == InconclusivePromote {
				if res.Status != StatusPromoted || !strings.Contains(res.Reason, "canary.on_inconclusive: promote") {
					t.Fatalf("promote policy: %s %q, want promoted naming the policy", res.Status, res.Reason)
				}
				if goose(c1) != 1 || goose(m1) != 1 {
					t.Errorf("promoted change: canary %d, main %d goose rows; want 1 and 1", goose(c1), goose(m1))
				}
				return
			}
			if res.Status != StatusInconclusive || res.RolledBack() || !strings.Contains(res.Reason, "not enough data") {
				t.Fatalf("idle fleet: %s %q, want inconclusive (held), not rolled back", res.Status, res.Reason)
			}
			if last.Phase != PhaseInconclusive {
				t.Errorf("last checkpoint %+v, want the inconclusive phase", last)
			}
			if goose(c1) != 1 || goose(m1) != 0 {
				t.Fatalf("held change: canary %d, main %d goose rows; want 1 and 0", goose(c1), goose(m1))
			}
			// A restart resumes the hold; it neither bakes nor rolls back again.
			res, err = c.Run(ctx, fleet, ch, &last)
			if err != nil || res.Status != StatusInconclusive || goose(c1) != 1 {
				t.Fatalf("resumed hold: %v %+v", err, res)
			}
			// A human promotes it.
			res, err = c.Run(ctx, fleet, ch, &Checkpoint{Version: 910, Phase: PhasePromote, Wave: 1})
			if err != nil || res.Status != StatusPromoted || goose(m1) != 1 {
				t.Fatalf("promoted by a human: %v %+v", err, res)
			}
		})
	}
}

// TestRegressionRolledBackWhateverOnInconclusive: on_inconclusive: promote
// does not let a real regression through: an index the probe needs is
// dropped, the judge fails the canary and it is rolled back.
func TestRegressionRolledBackWhateverOnInconclusive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const rows = 200000
	canaryDSN, controlDSN := shopDB(t, rows), shopDB(t, rows)
	fleet, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: canaryDSN}, {Name: "m1", DSN: controlDSN}},
		FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	if err != nil {
		t.Fatal(err)
	}
	probe, err := kpi.NewProbe([]kpi.ProbeConfig{{Name: "by_v", SQL: "SELECT id FROM items WHERE v = 4242", Rate: 20}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(probe.Close)
	cfg := fastCanary()
	cfg.Baseline, cfg.Bake, cfg.MaxBake = 2*time.Second, 3*time.Second, 6*time.Second
	cfg.Judge.Tolerances = map[string]float64{"latency": 1.0}
	cfg.OnInconclusive = InconclusivePromote
	c, err := NewCanary(cfg, RollbackConfig{}, WithSources(probe))
	if err != nil {
		t.Fatal(err)
	}
	ch := testChange(911, "drop_v_idx", "DROP INDEX items_v_idx;", "CREATE INDEX items_v_idx ON items (v);", []string{"public.items"}, "AccessExclusiveLock")
	res, err := c.Run(ctx, fleet, ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusRolledBack || res.Decision == nil || res.Decision.Outcome != judge.Fail {
		t.Fatalf("regression with on_inconclusive: promote: %s %q, want rolled back on a Fail", res.Status, res.Reason)
	}
	if pgtest.QueryInt(t, canaryDSN, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_idx'") != 1 {
		t.Error("index not restored on the canary")
	}
}

func TestOnInconclusiveConfig(t *testing.T) {
	t.Parallel()
	c := CanaryConfig{}
	c.SetDefaults()
	if c.OnInconclusive != InconclusiveHold {
		t.Errorf("default on_inconclusive %q, want hold", c.OnInconclusive)
	}
	c.OnInconclusive = "rollback"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `canary.on_inconclusive: "rollback": want hold or promote`) {
		t.Errorf("bad on_inconclusive: %v", err)
	}
}
