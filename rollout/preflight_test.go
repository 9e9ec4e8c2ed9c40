package rollout

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout/kpi"
)

// sqlChecker answers data checks whose Spec is a JSON string holding a
// query that returns a row when the data violates the change: the shape
// of the analysis's own checks (reconciler.DataChecks runs those; its test
// covers them), run here on the target's real rows.
type sqlChecker struct{}

func (sqlChecker) CheckData(ctx context.Context, inst Instance, checks []DataCheck) ([]DataViolation, error) {
	db, err := sql.Open("pgx", inst.DSN)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []DataViolation
	for _, c := range checks {
		var q string
		if err := json.Unmarshal(c.Spec, &q); err != nil {
			return nil, err
		}
		var one int
		switch err := db.QueryRowContext(ctx, q).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, err
		default:
			out = append(out, DataViolation{Check: c})
		}
	}
	return out, nil
}

// preflightFleet is c1 (canary), m1 and m2 (one wave of the rest), each
// a database with the shop schema, idle (changes are judged on a probe).
func preflightFleet(t *testing.T) (*Fleet, map[string]string) {
	t.Helper()
	return preflightFleetOf(t, map[string]string{"c1": shopDB(t, 100), "m1": shopDB(t, 100), "m2": shopDB(t, 100)})
}

func preflightFleetOf(t *testing.T, dsns map[string]string) (*Fleet, map[string]string) {
	t.Helper()
	fleet, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: dsns["c1"]}, {Name: "m1", DSN: dsns["m1"]}, {Name: "m2", DSN: dsns["m2"]}},
		FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	if err != nil {
		t.Fatal(err)
	}
	return fleet, dsns
}

// TestPreflightStopsTheWave: a target whose table drifted from the
// canary's, whose goose table is at another version, or whose own rows
// would make the change fail stops the wave before its apply: no instance
// of the wave is touched, the error names the target, the check and the
// object, and the canary keeps the change for a human.
func TestPreflightStopsTheWave(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		prepare func(t *testing.T, m2 string)
		check   string
		want    []string
	}{
		{"drift", func(t *testing.T, m2 string) {
			pgtest.Exec(t, m2, "ALTER TABLE items ADD COLUMN extra int", "CREATE INDEX items_payload_idx ON items (payload)")
		}, PreflightDrift, []string{"public.items: column extra integer on m2, not on the canary before the change",
			"index CREATE INDEX items_payload_idx ON items USING btree (payload) on m2"}},
		{"version", func(t *testing.T, m2 string) {
			pgtest.Exec(t, m2, "CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now())",
				"INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (5, true)")
		}, PreflightVersion, []string{"at version 5, the canary was at 0"}},
		{"data", func(t *testing.T, m2 string) {
			pgtest.Exec(t, m2, "UPDATE items SET v = 1 WHERE id = 2")
		}, PreflightData, []string{"public.items has duplicate (v)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			fleet, dsns := preflightFleet(t)
			tc.prepare(t, dsns["m2"])
			var mu sync.Mutex
			var events []Event
			c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "p", SQL: "SELECT 1", Rate: 20})
			c.dataChecker = sqlChecker{}
			ch := testChange(910, "uniq_v", "CREATE UNIQUE INDEX items_v_key ON items (v);", "DROP INDEX items_v_key;", []string{"public.items"}, "ShareLock")
			spec, _ := json.Marshal("SELECT 1 FROM public.items GROUP BY v HAVING count(*) > 1 LIMIT 1")
			ch.DataChecks = []DataCheck{{Table: "public.items", What: "duplicate (v)", Spec: spec}}
			res, err := c.Run(ctx, fleet, ch, nil)
			t.Logf("%s: %s", res.Status, res.Reason)
			var pe *PartialError
			var pfe *PreflightError
			if !errors.As(err, &pe) || pe.Op != "pre-flight" || !errors.As(err, &pfe) || !errors.Is(err, ErrPreflight) {
				t.Fatalf("err %v (status %s: %s), want a pre-flight PartialError", err, res.Status, res.Reason)
			}
			if pfe.Instance != "m2" || pfe.Check != tc.check || res.Status != StatusFailed {
				t.Errorf("pre-flight error on %s (%s), status %s; want m2 (%s), failed", pfe.Instance, pfe.Check, res.Status, tc.check)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Reason, w) || !strings.Contains(err.Error(), w) {
					t.Errorf("reason and error do not say %q:\n%s\n%v", w, res.Reason, err)
				}
			}
			for name, want := range map[string]int{"c1": 1, "m1": 0, "m2": 0} {
				if n := pgtest.QueryInt(t, dsns[name], "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_key'"); n != want {
					t.Errorf("%s: %d unique index(es), want %d", name, n, want)
				}
			}
		})
	}
}

// TestPreflightUnreachablePausesTheWave: a target that cannot be reached
// (nothing listens on its port) pauses the wave before anything of it is
// applied, with every instance's version reported; a run from the
// checkpoint once it answers again promotes the change.
func TestPreflightUnreachablePausesTheWave(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, dsns := preflightFleet(t)
	down, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: dsns["c1"]}, {Name: "m1", DSN: dsns["m1"]},
		{Name: "m2", DSN: "postgres://postgres@127.0.0.1:1/m2?sslmode=disable&connect_timeout=2"}},
		FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []Event
	c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "p", SQL: "SELECT 1", Rate: 20})
	ch := testChange(911, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;", []string{"public.items"}, "AccessExclusiveLock")
	var last Checkpoint
	save := OnCheckpoint(func(cp Checkpoint) { last = cp })
	res, err := c.Run(ctx, down, ch, nil, save)
	t.Logf("%s: %s", res.Status, res.Reason)
	var pfe *PreflightError
	if !errors.As(err, &pfe) || pfe.Check != PreflightUnreachable || pfe.Instance != "m2" || res.Status != StatusPaused {
		t.Fatalf("err %v, status %s: %s; want wave 1 paused for m2", err, res.Status, res.Reason)
	}
	for _, w := range []string{"c1 holds 911", "m1 at 0", "m2 unreachable"} {
		if !strings.Contains(res.Reason, w) {
			t.Errorf("reason does not report %q: %s", w, res.Reason)
		}
	}
	if n := pgtest.QueryInt(t, dsns["m1"], "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"); n != 0 {
		t.Error("m1 was touched while its wave was paused")
	}
	if last.Phase != PhasePromote || last.Wave != 1 || last.Schema == nil {
		t.Fatalf("checkpoint %+v, want promote wave 1 with the canary's schema print", last)
	}
	up, _ := preflightFleetOf(t, dsns)
	res, err = c.Run(ctx, up, ch, &last, save)
	if err != nil || res.Status != StatusPromoted {
		t.Fatalf("after m2 came back: %v, %s: %s", err, res.Status, res.Reason)
	}
	for name, dsn := range dsns {
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"); n != 1 {
			t.Errorf("%s lacks the change", name)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	progressed := false
	for _, e := range events {
		progressed = progressed || e.Step == StepProgress && strings.Contains(e.Message, "wave 1 (100%): 2/2 applied, 0 failed")
	}
	if !progressed {
		t.Error("no progress line for wave 1's apply")
	}
	if last.Progress != nil {
		t.Errorf("the last checkpoint %+v still carries an apply's progress", last)
	}
}
