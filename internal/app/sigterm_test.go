package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
)

// maxStop is how long a SIGTERMed daemon may take to exit: "a few seconds",
// with room for a loaded 2-core machine. It bounds a behaviour (the daemon
// stops instead of finishing its work), it is not a speed target.
const maxStop = 10 * time.Second

// daemonProc is `schemacanary run` as a subprocess, logging JSON to a file.
type daemonProc struct {
	t   *testing.T
	cmd *exec.Cmd
	log string
}

func startDaemon(t *testing.T, bin, cfgPath, logPath string) *daemonProc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-c", cfgPath, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p := &daemonProc{t: t, cmd: cmd, log: logPath}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			tailLog(t, logPath, 40)
		}
	})
	return p
}

// term sends SIGTERM and waits for the exit; it fails the test when the
// daemon takes longer than maxStop or exits with an error.
func (p *daemonProc) term() time.Duration {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		took := time.Since(start)
		if err != nil {
			p.t.Errorf("daemon exit after SIGTERM: %v", err)
		}
		return took
	case <-time.After(maxStop):
		// Where is it stuck? SIGQUIT makes the Go runtime dump every
		// goroutine into the log.
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if b, err := os.ReadFile(p.log); err == nil {
			if i := strings.LastIndex(string(b), "SIGQUIT"); i >= 0 {
				p.t.Logf("goroutines of the daemon that did not stop:\n%s", b[i:])
			}
		}
		p.t.Fatalf("daemon still running %s after SIGTERM", maxStop)
	}
	return 0
}

// logged reports whether the daemon's log holds a line with all of parts.
func (p *daemonProc) logged(parts ...string) bool {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		all := true
		for _, s := range parts {
			all = all && strings.Contains(line, s)
		}
		if all {
			return true
		}
	}
	return false
}

// sigtermWorld is an e2e world whose daemon runs as a subprocess.
type sigtermWorld struct {
	*e2eWorld
	t       *testing.T
	bin     string
	cfgPath string
	logPath string
	store   *store.Store
	ctx     context.Context
}

func newSigtermWorld(t *testing.T, ctx context.Context, bin string, edit func(cfg string) string, setup ...string) *sigtermWorld {
	t.Helper()
	w := &sigtermWorld{e2eWorld: newE2EWorld(t, ""), t: t, bin: bin, ctx: ctx}
	if edit != nil {
		w.cfg = edit(w.cfg)
	}
	for _, dsn := range w.fleet {
		pgtest.Exec(t, dsn, setup...)
	}
	w.cfgPath = filepath.Join(w.dir, "schemacanary.yaml")
	w.logPath = filepath.Join(w.dir, "daemon.log")
	w.writeConfig()
	cfg, err := ParseConfig([]byte(w.cfg))
	if err != nil {
		t.Fatal(err)
	}
	if w.store, err = OpenControl(ctx, cfg, &secret.Redactor{}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.store.Close)
	return w
}

func (w *sigtermWorld) writeConfig() { writeTestFile(w.t, w.cfgPath, w.cfg) }

func (w *sigtermWorld) start() *daemonProc { return startDaemon(w.t, w.bin, w.cfgPath, w.logPath) }

func (w *sigtermWorld) state(v int64) change.State {
	c, err := w.store.Get(w.ctx, v)
	if err != nil {
		return ""
	}
	return c.State
}

func (w *sigtermWorld) waitState(v int64, want change.State) {
	w.t.Helper()
	waitForCtx(w.t, w.ctx, func() bool { return w.state(v) == want }, fmt.Sprintf("change %d to be %s (it is %s)", v, want, w.state(v)))
}

// running counts the sessions of dsn's database running a statement that
// contains what, other than the asking one.
func running(t *testing.T, dsn, what string) int {
	return pgtest.QueryInt(t, dsn, fmt.Sprintf(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND pid <> pg_backend_pid() AND state <> 'idle' AND query LIKE '%%%s%%'`, what))
}

// gooseRows counts the goose rows of version v on dsn (0 without a goose table).
func gooseRows(t *testing.T, dsn string, v int64) int {
	t.Helper()
	if pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_tables WHERE tablename = 'goose_db_version'") == 0 {
		return 0
	}
	return pgtest.QueryInt(t, dsn, fmt.Sprintf("SELECT count(*) FROM goose_db_version WHERE version_id = %d", v))
}

// TestSIGTERMAtEveryStage runs the daemon as a subprocess against a real
// fleet and SIGTERMs it while it analyzes a large change, applies the
// canary (a long statement running), bakes, and rolls back (a long Down
// running). Each time it exits within maxStop, leaves no statement of its
// own running on any instance, leaves every instance as its goose table
// says (the interrupted transaction rolled back), and a restarted daemon
// resumes from there to the expected end.
func TestSIGTERMAtEveryStage(t *testing.T) {
	t.Parallel()
	requireGit(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin := buildBinary(t)

	t.Run("analysis", func(t *testing.T) {
		// 150,000 statements, about 7 MB: a few seconds of analysis, behind
		// a raised size limit.
		w := newSigtermWorld(t, ctx, bin, func(cfg string) string {
			return strings.Replace(cfg, "  clone_dir:", "  max_file_bytes: 16777216\n  clone_dir:", 1)
		})
		var up strings.Builder
		up.WriteString("CREATE TABLE seed (id int, note text);\n")
		for i := 0; i < 150000; i++ {
			fmt.Fprintf(&up, "INSERT INTO seed (id, note) VALUES (%d, 'row %d');\n", i, i)
		}
		w.merge("00001_seed.sql", migrationtest.Source(9, up.String(), "DROP TABLE seed;"))
		d := w.start()
		waitForCtx(t, ctx, func() bool { return d.logged(`"msg":"analyzing"`, `"change":1`) }, "the analysis to start")
		time.Sleep(500 * time.Millisecond)
		took := d.term()
		t.Logf("SIGTERM during analysis: exited in %s", took.Round(time.Millisecond))
		if s := w.state(1); s != change.StateDiscovered {
			t.Fatalf("after SIGTERM mid-analysis: %s, want discovered (the analysis was not finished)", s)
		}
		d = w.start()
		w.waitState(1, change.StateAwaitingApproval) // risk 9: analyzed, predicted, waits for a human
		t.Logf("SIGTERM while idle: exited in %s", d.term().Round(time.Millisecond))
	})

	t.Run("apply", func(t *testing.T) {
		w := newSigtermWorld(t, ctx, bin, nil, "CREATE TABLE apply_delay (d float8)", "INSERT INTO apply_delay VALUES (60)")
		w.merge("00001_note.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN note2 text;\nSELECT pg_sleep(d) FROM apply_delay;",
			"ALTER TABLE items DROP COLUMN note2;"))
		canary := w.fleet["c1"]
		d := w.start()
		waitForCtx(t, ctx, func() bool { return running(t, canary, "pg_sleep") > 0 }, "the canary's apply to run")
		took := d.term()
		t.Logf("SIGTERM during apply: exited in %s", took.Round(time.Millisecond))
		if s := w.state(1); s != change.StateCanary {
			t.Fatalf("after SIGTERM mid-apply: %s, want canary", s)
		}
		if n := running(t, canary, "pg_sleep"); n != 0 {
			t.Errorf("the apply still runs on the canary after the daemon exited (%d sessions)", n)
		}
		if gooseRows(t, canary, 1) != 0 || pgtest.QueryInt(t, canary, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note2'") != 0 {
			t.Fatalf("the interrupted apply left the change on the canary")
		}
		for _, dsn := range w.fleet {
			pgtest.Exec(t, dsn, "UPDATE apply_delay SET d = 0")
		}
		d = w.start()
		w.waitState(1, change.StateDone)
		d.term()
		for in, dsn := range w.fleet {
			if n := gooseRows(t, dsn, 1); n != 1 {
				t.Errorf("%s: %d goose rows for the change, want 1", in, n)
			}
		}
	})

	t.Run("bake", func(t *testing.T) {
		w := newSigtermWorld(t, ctx, bin, func(cfg string) string { return strings.Replace(cfg, "  bake: 2s\n", "  bake: 60s\n", 1) })
		w.merge("00001_tag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN tag text;", "ALTER TABLE items DROP COLUMN tag;"))
		d := w.start()
		w.waitState(1, change.StateBaking)
		time.Sleep(time.Second)
		took := d.term()
		t.Logf("SIGTERM during bake: exited in %s", took.Round(time.Millisecond))
		if s := w.state(1); s != change.StateBaking {
			t.Fatalf("after SIGTERM mid-bake: %s, want baking", s)
		}
		if gooseRows(t, w.fleet["c1"], 1) != 1 || gooseRows(t, w.fleet["m1"], 1) != 0 {
			t.Fatalf("after SIGTERM mid-bake: canary %d, main %d goose rows; want 1 and 0", gooseRows(t, w.fleet["c1"], 1), gooseRows(t, w.fleet["m1"], 1))
		}
		w.cfg = strings.Replace(w.cfg, "  bake: 60s\n", "  bake: 2s\n", 1)
		w.writeConfig()
		d = w.start()
		w.waitState(1, change.StateDone)
		d.term()
		for in, dsn := range w.fleet {
			if n := gooseRows(t, dsn, 1); n != 1 {
				t.Errorf("%s: %d goose rows for the change, want 1", in, n)
			}
		}
	})

	t.Run("rollback", func(t *testing.T) {
		w := newSigtermWorld(t, ctx, bin, nil, "CREATE TABLE rollback_delay (d float8)", "INSERT INTO rollback_delay VALUES (60)")
		w.merge("00001_drop_v_idx.sql", migrationtest.Source(3, "DROP INDEX items_v_idx;",
			"SELECT pg_sleep(d) FROM rollback_delay;\nCREATE INDEX items_v_idx ON items (v);"))
		canary := w.fleet["c1"]
		d := w.start()
		waitForCtx(t, ctx, func() bool { return running(t, canary, "pg_sleep") > 0 }, "the canary's rollback to run")
		took := d.term()
		t.Logf("SIGTERM during rollback: exited in %s", took.Round(time.Millisecond))
		if s := w.state(1); s != change.StateRollingBack {
			t.Fatalf("after SIGTERM mid-rollback: %s, want rolling_back", s)
		}
		if n := running(t, canary, "pg_sleep"); n != 0 {
			t.Errorf("the rollback still runs on the canary after the daemon exited (%d sessions)", n)
		}
		if gooseRows(t, canary, 1) != 1 || pgtest.QueryInt(t, canary, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_idx'") != 0 {
			t.Fatalf("the interrupted rollback was not rolled back as a whole on the canary")
		}
		pgtest.Exec(t, canary, "UPDATE rollback_delay SET d = 0")
		d = w.start()
		w.waitState(1, change.StateRolledBack)
		d.term()
		if gooseRows(t, canary, 1) != 0 || pgtest.QueryInt(t, canary, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_idx'") != 1 {
			t.Errorf("after the resumed rollback the canary holds the change or lacks its index")
		}
		if gooseRows(t, w.fleet["m1"], 1) != 0 {
			t.Errorf("the main instance got a change that was rolled back")
		}
	})
}
