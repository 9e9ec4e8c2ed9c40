// Command locksafety measures what an ALTER TABLE ... ADD COLUMN does to
// traffic when a long transaction holds ACCESS SHARE on the table: plain
// goose up, goose with a 2 s lock_timeout and retries, and schemacanary's
// Applier (wait without queueing while a conflicting transaction is older
// than long_transaction, then 100 ms lock_timeout attempts with backoff).
//
// Load is pgbench in open loop (--rate, latency measured from the scheduled
// start, per-transaction log), select-only on a 1M-row pgbench_accounts.
// Per method: a run of -duration; the long transaction starts at 5 s and
// lasts -hold; the apply starts at 7 s. It prints a Markdown table: p99
// before, p99 and max from the apply's start to its end + 1 s, statements
// slower than the lock_timeout in that window, and p99 over the whole run.
//
//	go run ./bench/locksafety -rate 1000 -hold 20s
package main

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout"
)

type method struct {
	name  string
	apply func(ctx context.Context, dsn string, ch *rollout.Plan) (attempts int, err error)
}

func main() {
	rate := flag.Int("rate", 1000, "pgbench --rate (transactions per second)")
	clients := flag.Int("clients", 8, "pgbench clients")
	scale := flag.Int("scale", 10, "pgbench scale (100,000 accounts each)")
	hold := flag.Duration("hold", 20*time.Second, "how long the long transaction holds ACCESS SHARE")
	duration := flag.Duration("duration", 0, "pgbench run per method (default hold + 12s)")
	only := flag.String("only", "", "run only methods whose name contains one of these comma-separated strings")
	rounds := flag.Int("rounds", 1, "repeat the methods this many times, interleaved, and print the medians")
	flag.Parse()
	if *duration == 0 {
		*duration = *hold + 12*time.Second
	}
	if err := run(*rate, *clients, *scale, *hold, *duration, *only, max(*rounds, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "locksafety:", err)
		os.Exit(1)
	}
}

func run(rate, clients, scale int, hold, duration time.Duration, only string, rounds int) error {
	ctx := context.Background()
	cl, err := pgtest.Start(ctx, pgtest.Options{Name: "locksafety", Settings: map[string]string{"max_connections": "100"}})
	if err != nil {
		return err
	}
	defer cl.Stop()
	dsn, err := cl.CreateDatabase(ctx, "bench")
	if err != nil {
		return err
	}
	pgbench := cl.Tool("pgbench")
	fmt.Fprintf(os.Stderr, "pgbench -i -s %d ...\n", scale)
	if out, err := exec.Command(pgbench, "-i", "-q", "-s", strconv.Itoa(scale), "-h", cl.Host(), "-p", strconv.Itoa(cl.Port), "-U", "postgres", "bench").CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %w: %s", err, out)
	}
	cfg := rollout.CanaryConfig{}
	applier, err := rollout.NewApplier(cfg)
	if err != nil {
		return err
	}
	cfg2s := rollout.CanaryConfig{LockTimeout: 2 * time.Second, LongTransaction: 24 * time.Hour, Retries: 100, MaxWait: time.Hour}
	retry2s, err := rollout.NewApplier(cfg2s)
	if err != nil {
		return err
	}
	methods := []method{
		{"no DDL (reference: the long transaction only)", func(ctx context.Context, dsn string, ch *rollout.Plan) (int, error) {
			// Wait as long as a lock-safe apply would, changing nothing.
			// A version of its own per round: goose skips one already applied.
			r, err := applier.Apply(ctx, rollout.Instance{Name: "bench", DSN: dsn}, &rollout.Plan{Version: 100000 + ch.Version, Name: "noop",
				Tables: ch.Tables, Lock: ch.Lock, Source: []byte("-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n")})
			if r == nil {
				return 0, err
			}
			return 0, err
		}},
		{"plain goose up", plainGoose},
		{"goose + lock_timeout 2s, retries", func(ctx context.Context, dsn string, ch *rollout.Plan) (int, error) {
			r, err := retry2s.Apply(ctx, rollout.Instance{Name: "bench", DSN: dsn}, ch)
			if r == nil {
				return 0, err
			}
			return r.Attempts, err
		}},
		{"schemacanary (wait + 100ms lock_timeout)", func(ctx context.Context, dsn string, ch *rollout.Plan) (int, error) {
			r, err := applier.Apply(ctx, rollout.Instance{Name: "bench", DSN: dsn}, ch)
			if r == nil {
				return 0, err
			}
			return r.Attempts, err
		}},
	}
	fmt.Printf("PostgreSQL %s, pgbench select-only, %d accounts, --rate %d, %d clients; a transaction holds ACCESS SHARE for %s from t=5s; ADD COLUMN starts at t=7s.\n\n",
		serverVersion(ctx, dsn), scale*100000, rate, clients, hold)
	fmt.Println("| method | attempts | apply took | p99 before | p99 during apply | ÷ before | ÷ reference | max during apply | > 100 ms before | > 100 ms during apply | p99 whole run |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	selected := func(name string) bool {
		if only == "" {
			return true
		}
		for _, s := range strings.Split(only, ",") {
			if s = strings.TrimSpace(s); s != "" && strings.Contains(name, s) {
				return true
			}
		}
		return false
	}
	// Per method and round: p99 during the apply ÷ the same round's
	// reference run, and ÷ the method's own p99 before the apply.
	vsRef, vsBefore := map[string][]float64{}, map[string][]float64{}
	for round := 0; round < rounds; round++ {
		var ref time.Duration
		for i, m := range methods {
			if !selected(m.name) {
				continue
			}
			r, err := runMethod(ctx, cl, pgbench, dsn, rate, clients, hold, duration, m, int64(round*len(methods)+i+1))
			if err != nil {
				return err
			}
			if i == 0 {
				ref = r.p99During
			}
			if ref > 0 {
				vsRef[m.name] = append(vsRef[m.name], float64(r.p99During)/float64(ref))
			}
			vsBefore[m.name] = append(vsBefore[m.name], float64(r.p99During)/float64(max(r.p99Before, 1)))
			fmt.Printf("| %s | %d | %s | %s | %s | %.2f× | %.2f× | %s | %s | %s | %s |\n", m.name, r.attempts, r.applyTook.Round(time.Millisecond),
				ms(r.p99Before), ms(r.p99During), float64(r.p99During)/float64(max(r.p99Before, 1)), float64(r.p99During)/float64(max(ref, 1)), ms(r.maxDuring),
				pct(r.slowBefore, r.nBefore), pct(r.slowDuring, r.nDuring), ms(r.p99All))
		}
	}
	if rounds > 1 {
		fmt.Printf("\nMedians over %d interleaved rounds (p99 during the apply):\n\n| method | ÷ own p99 before | ÷ same round's reference |\n| --- | ---: | ---: |\n", rounds)
		for _, m := range methods {
			if len(vsBefore[m.name]) > 0 {
				fmt.Printf("| %s | %.2f× | %.2f× |\n", m.name, median(vsBefore[m.name]), median(vsRef[m.name]))
			}
		}
	}
	return nil
}

// median of xs (xs is reordered).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// runMethod measures one method adding column c<v>.
func runMethod(ctx context.Context, cl *pgtest.Cluster, pgbench, dsn string, rate, clients int, hold, duration time.Duration, m method, v int64) (*runResult, error) {
	col := fmt.Sprintf("c%d", v)
	ch := &rollout.Plan{Version: v, Name: "add_" + col, Tables: []string{"public.pgbench_accounts"}, Lock: "AccessExclusiveLock",
		Source: []byte(fmt.Sprintf("-- +goose Up\nALTER TABLE pgbench_accounts ADD COLUMN %s text;\n-- +goose Down\nALTER TABLE pgbench_accounts DROP COLUMN %s;\n", col, col))}
	r, err := measure(ctx, cl, pgbench, dsn, rate, clients, hold, duration, m, ch)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.name, err)
	}
	return r, nil
}

type runResult struct {
	attempts                                int
	applyTook                               time.Duration
	p99Before, p99During, maxDuring, p99All time.Duration
	slowDuring, nDuring                     int
	slowBefore, nBefore                     int
}

func pct(n, of int) string { return fmt.Sprintf("%.2f%% (%d)", 100*float64(n)/float64(max(of, 1)), n) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func measure(ctx context.Context, cl *pgtest.Cluster, pgbench, dsn string, rate, clients int, hold, duration time.Duration, m method, ch *rollout.Plan) (*runResult, error) {
	dir, err := os.MkdirTemp("", "locksafety-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	bench := exec.CommandContext(ctx, pgbench, "-n", "-b", "select-only", "-c", strconv.Itoa(clients), "-j", "2",
		"-R", strconv.Itoa(rate), "-T", strconv.Itoa(int(duration.Seconds())), "-l", "--log-prefix", filepath.Join(dir, "tx"),
		"-h", cl.Host(), "-p", strconv.Itoa(cl.Port), "-U", "postgres", "bench")
	bench.Dir = dir
	if err := bench.Start(); err != nil {
		return nil, fmt.Errorf("pgbench: %w", err)
	}
	// The long transaction.
	time.Sleep(5 * time.Second)
	holdStart := time.Now()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "SELECT abalance FROM pgbench_accounts WHERE aid = 1"); err != nil {
		return nil, err
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(hold - time.Since(holdStart))
		tx.Commit(ctx)
		conn.Close(ctx)
		close(released)
	}()
	time.Sleep(2 * time.Second)
	applyStart := time.Now()
	attempts, err := m.apply(ctx, dsn, ch)
	applyEnd := time.Now()
	<-released
	if werr := bench.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("pgbench: %w", werr)
	}
	if err != nil {
		return nil, err
	}
	lat, err := readLogs(dir)
	if err != nil {
		return nil, err
	}
	r := &runResult{attempts: attempts, applyTook: applyEnd.Sub(applyStart)}
	var before, during, all []time.Duration
	for _, l := range lat {
		all = append(all, l.lat)
		switch {
		case l.sched.Before(holdStart) && l.sched.After(start.Add(time.Second)):
			before = append(before, l.lat)
			if l.lat > 100*time.Millisecond {
				r.slowBefore++
			}
		case !l.sched.Before(applyStart) && l.sched.Before(applyEnd.Add(time.Second)):
			during = append(during, l.lat)
			if l.lat > 100*time.Millisecond {
				r.slowDuring++
			}
		}
	}
	r.nDuring, r.nBefore = len(during), len(before)
	r.p99Before, r.p99During, r.p99All = quantile(before, 0.99), quantile(during, 0.99), quantile(all, 0.99)
	r.maxDuring = quantile(during, 1)
	return r, nil
}

type txLat struct {
	sched time.Time
	lat   time.Duration
}

// readLogs parses pgbench per-transaction logs: client tx time script
// epoch_s epoch_us [lag]; time is the latency from the scheduled start
// under --rate, the epoch fields the completion time.
func readLogs(dir string) ([]txLat, error) {
	files, err := filepath.Glob(filepath.Join(dir, "tx*"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no pgbench logs in %s: %v", dir, err)
	}
	var out []txLat
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 6 {
				continue
			}
			us, _ := strconv.ParseInt(fs[2], 10, 64)
			sec, _ := strconv.ParseInt(fs[4], 10, 64)
			usec, _ := strconv.ParseInt(fs[5], 10, 64)
			end := time.Unix(sec, usec*1000)
			lat := time.Duration(us) * time.Microsecond
			out = append(out, txLat{sched: end.Add(-lat), lat: lat})
		}
		fh.Close()
	}
	return out, nil
}

func quantile(v []time.Duration, q float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// plainGoose is `goose up` of the one file: no lock_timeout, no waiting.
func plainGoose(ctx context.Context, dsn string, ch *rollout.Plan) (int, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fstest.MapFS{ch.Filename(): {Data: ch.Source}},
		goose.WithAllowOutofOrder(true), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, err
	}
	_, err = p.ApplyVersion(ctx, ch.Version, true)
	return 1, err
}

func serverVersion(ctx context.Context, dsn string) string {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "?"
	}
	defer db.Close()
	var v string
	if db.QueryRowContext(ctx, "SHOW server_version").Scan(&v) != nil {
		return "?"
	}
	return v
}
