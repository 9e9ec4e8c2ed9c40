package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
)

// buildBinary builds cmd/schemacanary into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "schemacanary")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/schemacanary/schemacanary/cmd/schemacanary")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestCrashSafetyScenario runs the daemon as a subprocess and SIGKILLs it at
// random moments while it takes 50 merged migrations (every tenth harmful:
// it drops the index a probe needs, so the judge rolls it back) through a
// real fleet, restarting it each time. An operator skips each rolled back
// change so the queue moves on. In the end every change converged, every
// safe version is applied exactly once on every instance, every harmful
// one is rolled back everywhere, and the audit branch holds every
// transition of the control store, in order, without gaps.
func TestCrashSafetyScenario(t *testing.T) {
	if os.Getenv("SCHEMACANARY_SCENARIOS") != "1" {
		t.Skip("scenario: set SCHEMACANARY_SCENARIOS=1")
	}
	n := 50
	if v, err := strconv.Atoi(os.Getenv("SCHEMACANARY_CRASH_CHANGES")); err == nil && v > 0 {
		n = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Minute)
	defer cancel()
	bin := buildBinary(t)
	w := newE2EWorldWith(t, "schedules:\n  poll: '@every 1s'\n", "[canary, 100%]",
		[]e2eInstance{{Name: "c1", Group: "canary"}, {Name: "m1", Group: "main"}})
	harmful := func(v int) bool { return v%10 == 5 }
	for v := 1; v <= n; v++ {
		name := fmt.Sprintf("%05d_t%d.sql", v, v)
		src := migrationtest.Source(2, fmt.Sprintf("CREATE TABLE t%d (id int);", v), fmt.Sprintf("DROP TABLE t%d;", v))
		if harmful(v) {
			name = fmt.Sprintf("%05d_drop_v_idx_%d.sql", v, v)
			src = migrationtest.Source(3, "DROP INDEX items_v_idx;", "CREATE INDEX items_v_idx ON items (v);")
		}
		w.merge(name, src)
	}
	w.cfg = strings.Replace(w.cfg, "  baseline: 2s\n", "  baseline: 1s\n", 1)
	w.cfg = strings.Replace(w.cfg, "  leader_interval: 100ms\n", "  leader_interval: 500ms\n", 1)
	cfgPath := filepath.Join(w.dir, "schemacanary.yaml")
	writeTestFile(t, cfgPath, w.cfg)
	cfg, err := ParseConfig([]byte(w.cfg))
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenControl(ctx, cfg, &secret.Redactor{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	logf, err := os.Create(filepath.Join(w.dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	t.Cleanup(func() {
		if t.Failed() {
			tailLog(t, logf.Name(), 60)
		}
	})
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "-c", cfgPath, "--log-format", "json")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// settle plays the operator: it skips every rolled-back change so the
	// queue moves on, and returns how many changes have reached a terminal
	// state (all n of them: converged).
	settle := func() int {
		crs, err := st.List(ctx, n+10)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, c := range crs {
			if c.State == change.StateRolledBack {
				if _, err := reconciler.Skip(ctx, st, c.Version, "operator"); err != nil {
					t.Fatal(err)
				}
			}
			if c.State.Terminal() {
				done++
			}
		}
		return done
	}
	converged := func() bool { return settle() >= n }
	// Up to 50 crash restarts: SIGKILL at a random moment, from start-up to
	// well into a rollout, then restart. Once the kills are spent, the last
	// daemon runs undisturbed until every change has converged, so the
	// scenario's length is bounded whatever the machine's speed.
	maxKills := 50
	if v, err := strconv.Atoi(os.Getenv("SCHEMACANARY_CRASH_KILLS")); err == nil && v >= 0 {
		maxKills = v
	}
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	began := time.Now()
	for kills < maxKills && !converged() {
		if ctx.Err() != nil {
			t.Fatalf("not converged after %d kills", kills)
		}
		cmd := start()
		time.Sleep(time.Duration(2000+rng.IntN(18000)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		kills++
		t.Logf("kill %d at %s: %d of %d changes converged", kills, time.Since(began).Round(time.Second), settle(), n)
	}
	// The last daemon runs undisturbed: every change converges and it
	// flushes the side effects that a kill interrupted.
	cmd := start()
	waitForCtx(t, ctx, converged, "every change to converge")
	waitForCtx(t, ctx, func() bool {
		trs, err := st.Unaudited(ctx, 1)
		return err == nil && len(trs) == 0
	}, "the outbox to drain")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	t.Logf("%d changes converged after %d SIGKILLs", n, kills)

	for v := int64(1); v <= int64(n); v++ {
		c, err := st.Get(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if harmful(int(v)) {
			want = 0
			if c.State != change.StateSkipped || !slices.Contains(stateList(t, ctx, st, v), change.StateRolledBack) {
				t.Errorf("harmful %d: %s without a rollback", v, c.State)
			}
		} else if c.State != change.StateDone {
			t.Errorf("safe %d: %s", v, c.State)
		}
		for in, dsn := range w.fleet {
			// goose records one row per apply: 1 = applied exactly once.
			if got := pgtest.QueryInt(t, dsn, fmt.Sprintf("SELECT count(*) FROM goose_db_version WHERE version_id = %d", v)); got != want {
				t.Errorf("%s: version %d has %d goose rows, want %d", in, v, got, want)
			}
		}
		var sts []string
		for _, s := range stateList(t, ctx, st, v) {
			sts = append(sts, string(s))
		}
		if got := auditStates(t, ctx, w.origin, v); !slices.Equal(got, sts) {
			t.Errorf("audit of %d: %v, control store: %v", v, got, sts)
		}
	}
	for in, dsn := range w.fleet {
		if got := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_idx'"); got != 1 {
			t.Errorf("%s: index lost", in)
		}
	}
}

// tailLog prints the last n lines of the daemon's log, for a failure's story.
func tailLog(t *testing.T, path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("daemon log: %v", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	t.Logf("last %d lines of the daemon log:\n%s", len(lines), strings.Join(lines, "\n"))
}

func stateList(t *testing.T, ctx context.Context, s *store.Store, v int64) []change.State {
	t.Helper()
	trs, err := s.Transitions(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	var out []change.State
	for _, tr := range trs {
		out = append(out, tr.To)
	}
	return out
}

func waitForCtx(t *testing.T, ctx context.Context, cond func() bool, what string) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
