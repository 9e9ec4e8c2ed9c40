// Command rollout benchmarks schemacanary's rollout engine on real local
// clusters (internal/pgtest):
//
//	-mode scale:    a safe change (ADD COLUMN) rolled out to -clusters ×
//	                -dbs databases in waves, while pgbench (separate
//	                processes) puts -load transactions/s on every 10th
//	                database and the canaries; wall time per phase and the
//	                process's peak RSS.
//	-mode rollback: a harmful change (dropping the index a hot probe needs)
//	                under open-loop load, -runs times; time from the canary's
//	                apply to rollback complete and judged intervals needed.
//
// It prints Markdown for docs/BENCHMARKS.md (section "rollout").
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/schemacanary/schemacanary/rollout/kpi"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/loadgen"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout"
)

func main() {
	mode := flag.String("mode", "scale", "scale or rollback")
	clusters := flag.Int("clusters", 4, "scale: clusters")
	dbs := flag.Int("dbs", 50, "scale: databases per cluster")
	concurrency := flag.Int("concurrency", 20, "scale: instances changed at once per wave")
	load := flag.Int("load", 400, "scale: pgbench transactions/s (a read and an update each) spread over every 10th database and the canaries; 0 for none")
	runs := flag.Int("runs", 5, "rollback: runs")
	flag.Parse()
	var err error
	switch *mode {
	case "scale":
		err = scale(*clusters, *dbs, *concurrency, *load)
	case "rollback":
		err = rollbackTime(*runs)
	default:
		err = fmt.Errorf("-mode %q: want scale or rollback", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench rollout:", err)
		os.Exit(1)
	}
}

func exec(ctx context.Context, dsn string, sqls ...string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range sqls {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

func peakRSS() string {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(ru.Maxrss)/1024) // Linux: KiB
}

func scale(nClusters, perCluster, concurrency, load int) error {
	ctx := context.Background()
	fleet, err := pgtest.StartFleet(ctx, "scale", nClusters)
	if err != nil {
		return err
	}
	defer pgtest.StopAll(fleet)
	setup := time.Now()
	perCl := make([][]rollout.Instance, len(fleet))
	errs := make([]error, len(fleet))
	var wg sync.WaitGroup
	for ci, cl := range fleet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tmpl, err := cl.CreateDatabase(ctx, "shop")
			if err == nil {
				err = exec(ctx, tmpl, "CREATE TABLE items (id bigserial PRIMARY KEY, v int, payload text)",
					"INSERT INTO items (v, payload) SELECT g, md5(g::text) FROM generate_series(1, 1000) g")
			}
			for d := 0; d < perCluster && err == nil; d++ {
				name := fmt.Sprintf("db%03d", d)
				if err = exec(ctx, cl.DSN("postgres"), "CREATE DATABASE "+name+" TEMPLATE shop"); err != nil {
					break
				}
				group := "main"
				if ci == 0 && d < 2 {
					group = "canary"
				}
				perCl[ci] = append(perCl[ci], rollout.Instance{Name: fmt.Sprintf("%s/%s", cl.Name, name), Group: group, DSN: cl.DSN(name)})
			}
			errs[ci] = err
		}()
	}
	wg.Wait()
	var instances []rollout.Instance
	for ci := range fleet {
		if errs[ci] != nil {
			return errs[ci]
		}
		instances = append(instances, perCl[ci]...)
	}
	fmt.Fprintf(os.Stderr, "%d databases on %d clusters ready in %s\n", len(instances), nClusters, time.Since(setup).Round(time.Millisecond))
	loaded, stopLoad, err := startLoad(fleet, perCluster, load)
	if err != nil {
		return err
	}
	defer stopLoad()
	f, err := rollout.NewFleet(instances, rollout.FleetConfig{Concurrency: concurrency,
		Waves: []rollout.WaveConfig{{Select: "canary"}, {Select: "10%"}, {Select: "50%"}, {Select: "100%"}}})
	if err != nil {
		return err
	}
	probe, err := kpi.NewProbe([]kpi.ProbeConfig{{Name: "by_v", SQL: "SELECT payload FROM items WHERE v = 42", Rate: 20}}, nil)
	if err != nil {
		return err
	}
	defer probe.Close()
	phases := map[string]time.Time{}
	var order []string
	mark := func(e rollout.Event) {
		key := string(e.Step)
		if e.Step == rollout.StepPromote {
			key = "wave " + e.WaveName
		}
		if e.Step == rollout.StepPlan || e.Step == rollout.StepBaseline || e.Step == rollout.StepPromote || e.Step == rollout.StepDone ||
			(e.Step == rollout.StepApplied && e.Wave == 0 && phases["canary applied"].IsZero()) {
			if e.Step == rollout.StepApplied {
				key = "canary applied"
			}
			if _, ok := phases[key]; !ok {
				phases[key] = e.Time
				order = append(order, key)
			}
		}
	}
	c, err := rollout.NewCanary(rollout.CanaryConfig{Interval: 500 * time.Millisecond, Baseline: 3 * time.Second, Bake: 5 * time.Second},
		rollout.RollbackConfig{}, rollout.WithSources(probe), rollout.WithObserver(mark))
	if err != nil {
		return err
	}
	ch := &rollout.Plan{Version: 1, Name: "add_note", Tables: []string{"public.items"}, Lock: "AccessExclusiveLock",
		Source: []byte("-- +goose Up\nALTER TABLE items ADD COLUMN note text;\n-- +goose Down\nALTER TABLE items DROP COLUMN note;\n")}
	start := time.Now()
	res, err := c.Run(ctx, f, ch, nil)
	wall := time.Since(start)
	if err != nil {
		return err
	}
	applied := 0
	for _, in := range res.Instances {
		if in.Applied {
			applied++
		}
	}
	fmt.Printf("Safe change to %d databases (%d clusters × %d), waves [canary, 10%%, 50%%, 100%%], %d at a time; baseline 3s, bake 5s, interval 500ms; "+
		"concurrent load: pgbench open loop, %d transactions/s (a read and an update of `items`) over %d databases.\n\n",
		len(instances), nClusters, perCluster, concurrency, load, loaded)
	fmt.Printf("| status | applied | wall time | of which after the bake (waves 1-3) | peak RSS |\n| --- | ---: | ---: | ---: | ---: |\n")
	promote := phases["wave 10%"]
	fmt.Printf("| %s | %d/%d | %s | %s | %s |\n\n", res.Status, applied, len(instances), wall.Round(time.Millisecond),
		res.Finished.Sub(promote).Round(time.Millisecond), peakRSS())
	fmt.Println("| phase | at |\n| --- | ---: |")
	sort.Slice(order, func(i, j int) bool { return phases[order[i]].Before(phases[order[j]]) })
	for _, k := range order {
		fmt.Printf("| %s | +%s |\n", k, phases[k].Sub(start).Round(time.Millisecond))
	}
	return nil
}

// startLoad runs one pgbench (open loop, --rate) per loaded database:
// every 10th database of each cluster and the canaries (the first two of
// the first cluster), load transactions/s in all. The processes are
// separate, so the peak RSS measured is the rollout's alone.
func startLoad(fleet []*pgtest.Cluster, perCluster, load int) (int, func(), error) {
	if load <= 0 {
		return 0, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "bench-rollout-load-")
	if err != nil {
		return 0, nil, err
	}
	script := filepath.Join(dir, "load.sql")
	if err := os.WriteFile(script, []byte("\\set id random(1, 1000)\nSELECT payload FROM items WHERE id = :id;\nUPDATE items SET v = v + 1 WHERE id = :id;\n"), 0o644); err != nil {
		return 0, nil, err
	}
	type target struct {
		cl *pgtest.Cluster
		db string
	}
	var targets []target
	for ci, cl := range fleet {
		for d := 0; d < perCluster; d++ {
			if d%10 == 0 || (ci == 0 && d == 1) {
				targets = append(targets, target{cl, fmt.Sprintf("db%03d", d)})
			}
		}
	}
	rate := max(load/len(targets), 1)
	var cmds []*osexec.Cmd
	stop := func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGINT)
			_ = c.Wait()
		}
		os.RemoveAll(dir)
	}
	for _, t := range targets {
		c := osexec.Command(t.cl.Tool("pgbench"), "-n", "-f", script, "-c", "1", "-j", "1", "-R", strconv.Itoa(rate), "-T", "3600",
			"-h", t.cl.Host(), "-p", strconv.Itoa(t.cl.Port), "-U", "postgres", t.db)
		if err := c.Start(); err != nil {
			stop()
			return 0, nil, fmt.Errorf("pgbench: %w", err)
		}
		cmds = append(cmds, c)
	}
	time.Sleep(2 * time.Second) // let the load settle before the baseline
	return len(targets), stop, nil
}

func rollbackTime(runs int) error {
	ctx := context.Background()
	cl, err := pgtest.Start(ctx, pgtest.Options{Name: "rbtime"})
	if err != nil {
		return err
	}
	defer cl.Stop()
	const rows = 200000
	var dsns []string
	var gens []*loadgen.Generator
	for _, name := range []string{"canary", "control"} {
		dsn, err := cl.CreateDatabase(ctx, name)
		if err != nil {
			return err
		}
		if err := exec(ctx, dsn, "CREATE TABLE items (id bigserial PRIMARY KEY, v int NOT NULL, payload text)",
			fmt.Sprintf("INSERT INTO items (v, payload) SELECT g, md5(g::text) FROM generate_series(1, %d) g", rows),
			"CREATE INDEX items_v_idx ON items (v)", "ANALYZE items"); err != nil {
			return err
		}
		g, err := loadgen.Start(ctx, loadgen.Config{DSN: dsn, Rate: 200, Workers: 4, Statements: []loadgen.Statement{
			{Name: "read", SQL: "SELECT payload FROM items WHERE id = $1", Weight: 3, Args: []loadgen.Arg{loadgen.IntRange(1, rows)}},
			{Name: "write", SQL: "UPDATE items SET payload = $1 WHERE id = $2", Weight: 1, Args: []loadgen.Arg{loadgen.Text(8), loadgen.IntRange(1, rows)}},
		}})
		if err != nil {
			return err
		}
		gens = append(gens, g)
		dsns = append(dsns, dsn)
	}
	defer func() {
		for _, g := range gens {
			g.Stop()
		}
	}()
	f, err := rollout.NewFleet([]rollout.Instance{{Name: "canary", Group: "canary", DSN: dsns[0]}, {Name: "control", DSN: dsns[1]}},
		rollout.FleetConfig{Waves: []rollout.WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	if err != nil {
		return err
	}
	probe, err := kpi.NewProbe([]kpi.ProbeConfig{{Name: "by_v", SQL: "SELECT id FROM items WHERE v = 4242", Rate: 20}}, nil)
	if err != nil {
		return err
	}
	defer probe.Close()
	const interval = time.Second
	c, err := rollout.NewCanary(rollout.CanaryConfig{Interval: interval, Baseline: 10 * time.Second, Bake: 20 * time.Second},
		rollout.RollbackConfig{}, rollout.WithSources(probe))
	if err != nil {
		return err
	}
	var ttr, detect []time.Duration
	var intervals []int
	rolledBack := 0
	for run := 1; run <= runs; run++ {
		ch := &rollout.Plan{Version: int64(run), Name: "drop_v_idx", Tables: []string{"public.items"}, Lock: "AccessExclusiveLock",
			Source: []byte("-- +goose Up\nDROP INDEX items_v_idx;\n-- +goose Down\nCREATE INDEX items_v_idx ON items (v);\n")}
		res, err := c.Run(ctx, f, ch, nil)
		if err != nil {
			return err
		}
		if res.Status == rollout.StatusRolledBack {
			rolledBack++
			ttr = append(ttr, res.TimeToRollback)
			detect = append(detect, res.Decided.Sub(res.CanaryApplied))
			intervals = append(intervals, res.Judgements)
		}
		fmt.Fprintf(os.Stderr, "run %d: %s after %d interval(s), apply → rollback %s\n", run, res.Status, res.Judgements, res.TimeToRollback.Round(time.Millisecond))
	}
	fmt.Printf("Harmful change (DROP INDEX under a hot probe, 200k rows, load 200 statements/s on canary and control), interval %s, %d runs.\n\n", interval, runs)
	fmt.Println("| rolled back | median apply → verdict | median apply → rollback complete | judged intervals (each run) |\n| ---: | ---: | ---: | --- |")
	fmt.Printf("| %d/%d | %s | %s | %s |\n", rolledBack, runs, median(detect), median(ttr), strings.Trim(fmt.Sprint(intervals), "[]"))
	return nil
}

func median(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(time.Millisecond).String()
}
