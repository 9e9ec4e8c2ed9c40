// Command fleetscale benchmarks the schemacanary daemon on a fleet of
// schema-per-tenant targets: -tenants schemas spread over -clusters local
// clusters (internal/pgtest), one database per cluster, each tenant a
// target of a target file. It runs the real binary (`schemacanary run`,
// -bin) with waves [canary, 5%, 25%, 100%], bakes on every wave and a
// probe per tenant, merges one safe change (ADD COLUMN) into a local Git
// repository, and measures, until the change is done:
//
//   - the wall time from the merge, beside the sum of its bakes and
//     baselines (what the waves cannot go faster than);
//   - the daemon's peak RSS (VmHWM of its process);
//   - the rows of every control-store table afterwards.
//
// Each size given in -tenants (comma-separated) is a run of its own on a
// fresh fleet, so rows can be compared across sizes; -probe-rate likewise
// takes a list, to compare rows across sampling rates. It prints Markdown
// for docs/BENCHMARKS.md (section "rollout").
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

func main() {
	bin := flag.String("bin", "bin/schemacanary", "the schemacanary binary")
	clusters := flag.Int("clusters", 3, "local clusters the tenants are spread over")
	tenants := flag.String("tenants", "2000", "tenant counts, one run each (e.g. 500,2000)")
	rates := flag.String("probe-rate", "10", "probe executions/s per sampled tenant, one run each at the first tenant count after the first")
	concurrency := flag.Int("concurrency", 50, "targets a wave changes at once")
	baseline := flag.Duration("baseline", 3*time.Second, "canary.baseline (every wave samples one)")
	bake := flag.Duration("bake", 5*time.Second, "canary.bake (every wave bakes this long)")
	interval := flag.Duration("interval", 500*time.Millisecond, "canary.interval")
	flag.Parse()
	if err := run(*bin, *clusters, ints(*tenants), floats(*rates), *concurrency, *baseline, *bake, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "bench fleetscale:", err)
		os.Exit(1)
	}
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad number:", f)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

func floats(s string) []float64 {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad number:", f)
			os.Exit(2)
		}
		out = append(out, x)
	}
	return out
}

// result is one run's measurements.
type result struct {
	tenants   int
	rate      float64
	state     string
	wall      time.Duration
	floor     time.Duration // the baselines and bakes of every wave
	rssPeak   int64         // KiB
	rows      map[string]int64
	phases    []phase
	setupTook time.Duration
}

type phase struct {
	at  time.Duration
	msg string
}

func run(bin string, clusters int, sizes []int, rates []float64, concurrency int, baseline, bake, interval time.Duration) error {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("binary %s: %w (make build)", bin, err)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	var results []result
	for _, n := range sizes {
		r, err := once(abs, clusters, n, rates[0], concurrency, baseline, bake, interval)
		if err != nil {
			return fmt.Errorf("%d tenants: %w", n, err)
		}
		results = append(results, r)
	}
	for _, rate := range rates[1:] {
		r, err := once(abs, clusters, sizes[0], rate, concurrency, baseline, bake, interval)
		if err != nil {
			return fmt.Errorf("%d tenants at %g/s: %w", sizes[0], rate, err)
		}
		results = append(results, r)
	}
	print(results, clusters, concurrency, baseline, bake, interval)
	return nil
}

// once runs one fleet of n tenants from scratch.
func once(bin string, clusters, n int, rate float64, concurrency int, baseline, bake, interval time.Duration) (result, error) {
	res := result{tenants: n, rate: rate, rows: map[string]int64{}}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "schemacanary-fleetscale-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	setup := time.Now()
	fleet, err := pgtest.StartFleet(ctx, "fleetscale", clusters)
	if err != nil {
		return res, err
	}
	defer pgtest.StopAll(fleet)
	control, err := fleet[0].CreateDatabase(ctx, "control")
	if err != nil {
		return res, err
	}
	if err := seedTenants(ctx, fleet, n); err != nil {
		return res, err
	}
	if err := writeTargets(filepath.Join(dir, "targets.yaml"), fleet, n); err != nil {
		return res, err
	}
	origin, work := filepath.Join(dir, "origin.git"), filepath.Join(dir, "work")
	if err := initRepo(origin, work); err != nil {
		return res, err
	}
	cfg := fmt.Sprintf(`repo:
  url: file://%s
  branch: main
  dir: migrations
  clone_dir: %s/clone
control:
  dsn_file: %s/control.dsn
fleet:
  files: %s/targets.yaml
  waves: [%s]
  concurrency: %d
canary:
  interval: %s
  baseline: %s
  bake: %s
  kpis:
    pgstat: {disabled: true}
    probes:
      - {name: by_v, sql: "SELECT id FROM items WHERE v = 42", rate: %g}
rollback:
  fence: tables
  restart: none
prediction:
  live_catalog: false
schedules:
  poll: "@every 1s"
http:
  listen: 127.0.0.1:0
forge:
  kind: local
reconcile:
  leader_interval: 200ms
`, origin, dir, dir, dir, strings.Join(waves, ", "), concurrency, interval, baseline, bake, rate)
	if err := os.WriteFile(filepath.Join(dir, "control.dsn"), []byte(control+"\n"), 0o600); err != nil {
		return res, err
	}
	cfgPath := filepath.Join(dir, "schemacanary.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return res, err
	}
	res.setupTook = time.Since(setup)

	logPath := filepath.Join(dir, "daemon.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return res, err
	}
	defer logf.Close()
	cmd := osexec.Command(bin, "run", "-c", cfgPath, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	if err := waitReady(ctx, control, 60*time.Second); err != nil {
		return res, fmt.Errorf("daemon did not start: %w (log %s)", err, tail(logPath))
	}
	merged := time.Now()
	if err := merge(work); err != nil {
		return res, err
	}
	fmt.Fprintf(os.Stderr, "fleetscale: %d tenants on %d clusters, probe %g/s: merged, waiting for the rollout\n", n, clusters, rate)
	conn, err := pgx.Connect(ctx, control)
	if err != nil {
		return res, err
	}
	defer conn.Close(ctx)
	deadline := merged.Add(30 * time.Minute)
	for {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("no final state after 30 min (log %s)", tail(logPath))
		}
		if k := hwm(cmd.Process.Pid); k > res.rssPeak {
			res.rssPeak = k
		}
		var state string
		err := conn.QueryRow(ctx, `SELECT state FROM change_requests WHERE version = 1`).Scan(&state)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return res, err
		}
		if state == "done" || state == "failed" || state == "rolled_back" || state == "reverted" || state == "awaiting_approval" {
			res.state, res.wall = state, time.Since(merged)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if k := hwm(cmd.Process.Pid); k > res.rssPeak {
		res.rssPeak = k
	}
	res.floor = time.Duration(len(waves)) * (baseline + bake) // every wave samples a baseline and bakes
	if res.rows, err = countRows(ctx, conn); err != nil {
		return res, err
	}
	res.phases = phases(logPath, merged)
	return res, nil
}

// seedTenants creates database "tenants" on every cluster and, round
// robin, tenant t<i>'s schema with a 100-row items table and an index.
func seedTenants(ctx context.Context, fleet []*pgtest.Cluster, n int) error {
	errs := make([]error, len(fleet))
	var wg sync.WaitGroup
	for ci, cl := range fleet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dsn, err := cl.CreateDatabase(ctx, "tenants")
			if err != nil {
				errs[ci] = err
				return
			}
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				errs[ci] = err
				return
			}
			defer conn.Close(ctx)
			var b strings.Builder
			for i := ci; i < n; i += len(fleet) {
				s := tenant(i)
				fmt.Fprintf(&b, "CREATE SCHEMA %s; CREATE TABLE %s.items (id bigserial PRIMARY KEY, v int NOT NULL, payload text);"+
					" INSERT INTO %s.items (v, payload) SELECT g, md5(g::text) FROM generate_series(1, 100) g; CREATE INDEX ON %s.items (v);\n", s, s, s, s)
				if b.Len() > 1<<20 {
					if _, err := conn.Exec(ctx, b.String()); err != nil {
						errs[ci] = err
						return
					}
					b.Reset()
				}
			}
			if b.Len() > 0 {
				_, errs[ci] = conn.Exec(ctx, b.String())
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waves are the fleet's waves; the first is the canary (tenant 0).
var waves = []string{"canary", "5%", "25%", "100%"}

func tenant(i int) string { return fmt.Sprintf("t%05d", i) }

// writeTargets writes the target file: tenant i in cluster i mod len,
// tenant 0 the canary.
func writeTargets(path string, fleet []*pgtest.Cluster, n int) error {
	var b strings.Builder
	for i := range n {
		group := "main"
		if i == 0 {
			group = "canary"
		}
		fmt.Fprintf(&b, "- {name: %s, dsn: '%s', schema: %s, group: %s}\n", tenant(i), fleet[i%len(fleet)].DSN("tenants"), tenant(i), group)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func git(dir string, args ...string) error {
	cmd := osexec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func initRepo(origin, work string) error {
	dir := filepath.Dir(origin)
	for _, args := range [][]string{{"init", "-q", "--bare", "-b", "main", origin}, {"clone", "-q", origin, work}} {
		if err := git(dir, args...); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(work, "migrations"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("migrations\n"), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{{"checkout", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "init"}, {"push", "-q", "origin", "main"}} {
		if err := git(work, args...); err != nil {
			return err
		}
	}
	return nil
}

// merge commits the safe change on main and pushes it.
func merge(work string) error {
	src := "-- ---\n-- risk: 2\n-- owner: bench\n-- ---\n-- +goose Up\nALTER TABLE items ADD COLUMN note text;\n-- +goose Down\nALTER TABLE items DROP COLUMN note;\n"
	if err := os.WriteFile(filepath.Join(work, "migrations", "00001_add_note.sql"), []byte(src), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{{"add", "."}, {"commit", "-q", "-m", "add note"}, {"push", "-q", "origin", "main"}} {
		if err := git(work, args...); err != nil {
			return err
		}
	}
	return nil
}

// waitReady waits until the daemon has migrated the control store.
func waitReady(ctx context.Context, control string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		conn, err := pgx.Connect(ctx, control)
		if err == nil {
			var ok bool
			err = conn.QueryRow(ctx, `SELECT to_regclass('change_requests') IS NOT NULL`).Scan(&ok)
			conn.Close(ctx)
			if err == nil && ok {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("control store not migrated")
}

// hwm is the process's peak resident set (VmHWM) in KiB; 0 when unknown.
func hwm(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			k, _ := strconv.ParseInt(f[1], 10, 64)
			return k
		}
	}
	return 0
}

// countRows counts the rows of every table of the control store.
func countRows(ctx context.Context, conn *pgx.Conn) (map[string]int64, error) {
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range tables {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, nil
}

var phaseMsg = regexp.MustCompile(`^(wave \d+ \([^)]*\)( applied|: pre-flight passed| passed)|sampling KPIs on the canary|promoted)`)

// phases picks the wave milestones out of the daemon's JSON log.
func phases(path string, from time.Time) []phase {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []phase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || !phaseMsg.MatchString(l.Msg) {
			continue
		}
		msg := l.Msg
		if i := strings.Index(msg, ": "); i > 0 && strings.Contains(msg, "passed:") {
			msg = msg[:i]
		}
		out = append(out, phase{at: l.Time.Sub(from), msg: msg})
	}
	return out
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func print(rs []result, clusters, concurrency int, baseline, bake, interval time.Duration) {
	fmt.Printf("Schema-per-tenant fleet: tenants over %d clusters (one database each), waves `[%s]`,\n", clusters, strings.Join(waves, ", "))
	fmt.Printf("concurrency %d, baseline %s and bake %s on every wave, interval %s, `wave_sample` 20, the real daemon (`schemacanary run`).\n\n", concurrency, baseline, bake, interval)
	fmt.Println("| tenants | probe/s | state | wall time from merge | bakes + baselines | ratio | daemon peak RSS |")
	fmt.Println("| ---: | ---: | --- | ---: | ---: | ---: | ---: |")
	for _, r := range rs {
		fmt.Printf("| %d | %g | %s | %.1fs | %.0fs | %.2f | %.1f MiB |\n", r.tenants, r.rate, r.state, r.wall.Seconds(), r.floor.Seconds(),
			r.wall.Seconds()/r.floor.Seconds(), float64(r.rssPeak)/1024)
	}
	tables := map[string]bool{}
	for _, r := range rs {
		for t := range r.rows {
			tables[t] = true
		}
	}
	var names []string
	for t := range tables {
		names = append(names, t)
	}
	sort.Strings(names)
	fmt.Println()
	fmt.Print("| control-store table |")
	for _, r := range rs {
		fmt.Printf(" %d tenants, %g/s |", r.tenants, r.rate)
	}
	fmt.Println()
	fmt.Print("| --- |")
	for range rs {
		fmt.Print(" ---: |")
	}
	fmt.Println()
	for _, t := range names {
		fmt.Printf("| %s |", t)
		for _, r := range rs {
			fmt.Printf(" %d |", r.rows[t])
		}
		fmt.Println()
	}
	for _, r := range rs {
		fmt.Printf("\nPhases, %d tenants (%g probe/s), from the merge:\n\n| at | milestone |\n| ---: | --- |\n", r.tenants, r.rate)
		for _, p := range r.phases {
			fmt.Printf("| +%.1fs | %s |\n", p.at.Seconds(), p.msg)
		}
	}
}
