package demo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/examples"
)

// environment is everything the demo started, so close can undo it.
type environment struct {
	opts     Options
	p        *printer
	dir      string
	ownDir   bool
	clusters *Clusters
	repo     *Repo
	load     *Load
	daemon   *runningDaemon
	alerts   *receiver
	watch    *watcher
	seeded   map[string]int64
	base     int64
}

// setUp starts the clusters, seeds them, creates the repository, starts the
// load and the daemon, and waits until the daemon has adopted the history.
func (e *environment) setUp(ctx context.Context) error {
	e.dir = e.opts.Dir
	if e.dir == "" {
		d, err := os.MkdirTemp("", "schemacanary-demo-")
		if err != nil {
			return err
		}
		e.dir, e.ownDir = d, true
	}
	t0 := time.Now()
	e.p.line("starting 5 PostgreSQL servers on 127.0.0.1: control (the daemon's store), canary-1, prod-1, prod-2, prod-3")
	c, err := startClusters(ctx)
	if err != nil {
		return err
	}
	e.clusters = c
	e.p.line("servers up in %.1fs (ports %s)", time.Since(t0).Seconds(), e.ports())

	t0 = time.Now()
	sc := e.opts.Scale
	e.p.line("seeding each fleet database: goose up examples/migrations, then %s customers, %s products, %s orders, %s order items",
		thousands(int64(sc.Customers)), thousands(int64(sc.Products)), thousands(int64(sc.Orders)), thousands(2*int64(sc.Orders)))
	if e.base, err = seedFleet(ctx, c.Fleet, sc); err != nil {
		return err
	}
	e.seeded = map[string]int64{}
	for _, in := range c.Fleet {
		if e.seeded[in.Name], err = countRows(ctx, in.DSN, "orders"); err != nil {
			return err
		}
	}
	e.p.line("fleet at goose version %d in %.1fs", e.base, time.Since(t0).Seconds())

	base, err := fs.Sub(examples.Migrations, "migrations")
	if err != nil {
		return err
	}
	if e.repo, err = newRepo(ctx, e.dir, base); err != nil {
		return err
	}
	e.p.line("git repository %s: migrations/ holds the %d migrations already applied", e.repo.URL(), e.base)

	if e.load, err = startLoad(ctx, c.Fleet, sc, e.opts.Timing.Rate); err != nil {
		return err
	}
	e.p.line("load generator: %.0f statements/s on each instance, open loop (\"my orders\" 60%%, product page 30%%, new order 10%%)", e.opts.Timing.Rate)

	if e.alerts, err = startReceiver(e.p, e.dir); err != nil {
		return err
	}
	e.p.line("alert webhook receiver %s: checks each delivery's HMAC-SHA256 signature", e.alerts.url)
	if e.daemon, err = startDaemon(ctx, e); err != nil {
		return err
	}
	e.watch = newWatcher(e.daemon.status, e.p)
	e.watch.assessed = func(v int64) []string { return e.daemon.assessmentLines(ctx, v) }
	e.p.line("daemon running in-process: polls every %v, canary bake %v (KPIs every %v), local forge; status page %s",
		e.opts.Timing.Poll, e.opts.Timing.Bake, e.opts.Timing.Interval, e.statusURL())
	return e.waitAdopted(ctx)
}

// waitAdopted waits until the daemon has taken in the base history: every
// migration already applied on the fleet is a change request that needs
// nothing more.
func (e *environment) waitAdopted(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		list, err := e.daemon.status.ListChanges(ctx)
		if err != nil {
			return err
		}
		settled := 0
		for _, c := range list {
			if c.State == "done" || c.State == "skipped" {
				settled++
			}
		}
		if int64(settled) >= e.base {
			e.p.line("daemon adopted the %d migrations the fleet already holds (state done, nothing applied)", settled)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: the daemon adopted %d of %d existing migrations in 2m", ErrTimeout, settled, e.base)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// walk pushes one demo change and follows it to its expected end.
func (e *environment) walk(ctx context.Context, i int, c demoChange) (*Outcome, error) {
	v := versionOf(c.file)
	e.p.section(fmt.Sprintf("change %d/%d: %s (%s)", i+1, len(demoChanges), c.file, c.kind))
	src, err := demoSource(c.file)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	pr, sha, err := e.repo.Push(ctx, c.who, c.title, c.file, src)
	if err != nil {
		return nil, err
	}
	e.p.line("%s merged PR #%d \"%s\" (commit %s)", c.who.name, pr, c.title, sha[:10])
	want := c.want
	if c.kind != "risky" {
		// The model may flag the safe or the harmful change too; then its
		// author approves it anyway and the canary has the last word.
		want = append([]string{"awaiting_approval"}, want...)
	}
	d, err := e.watch.waitFor(ctx, v, e.walkTimeout(), want...)
	out := &Outcome{Version: v, File: c.file, Kind: c.kind}
	if d != nil {
		out.State, out.Confidence = d.State, d.Confidence
	}
	if err == nil && c.kind != "risky" && d.State == "awaiting_approval" {
		e.p.line("the model flagged it (confidence %.2f); %s approves it anyway: schemacanary approve %d --by %q", d.Confidence, c.who.name, v, c.who.name)
		if err := e.daemon.approve(ctx, v, c.who.name); err != nil {
			return out, fmt.Errorf("demo: approve %d: %w", v, err)
		}
		if err := e.watch.waitLeave(ctx, v, e.walkTimeout(), "awaiting_approval"); err != nil {
			return out, err
		}
		if d, err = e.watch.waitFor(ctx, v, e.walkTimeout(), c.want...); d != nil {
			out.State = d.State
		}
	}
	if err != nil {
		return out, err
	}
	switch c.kind {
	case "harmful":
		if err := e.waitRevertBranch(ctx, v); err != nil {
			return out, err
		}
		// The rolled-back change holds the queue (later migrations were
		// written against a schema without it). An operator releases it,
		// through the code path of `schemacanary skip`.
		e.p.line("the queue is held by #%d; an operator releases it: schemacanary skip %d --by \"Dana Lee\" (merging the revert would too)", v, v)
		if err := e.daemon.skip(ctx, v, "Dana Lee"); err != nil {
			return out, fmt.Errorf("demo: skip %d: %w", v, err)
		}
		if _, err := e.watch.waitFor(ctx, v, e.walkTimeout(), "skipped"); err != nil {
			return out, err
		}
	case "risky":
		e.p.line("an operator reads the prediction and approves: schemacanary approve %d --by \"Ana Ruiz\"", v)
		if err := e.daemon.approve(ctx, v, "Ana Ruiz"); err != nil {
			return out, fmt.Errorf("demo: approve %d: %w", v, err)
		}
		if err := e.watch.waitLeave(ctx, v, e.walkTimeout(), "awaiting_approval"); err != nil {
			return out, err
		}
		// Approval lets it roll out; the canary still has the last word.
		if d, err = e.watch.waitFor(ctx, v, e.walkTimeout(), "done", "rolled_back", "reverted"); d != nil {
			out.State = d.State
		}
		if err != nil {
			return out, err
		}
		out.State += " after approval"
	}
	out.Took = time.Since(t0)
	return out, nil
}

// walkTimeout bounds one change's walk: baseline, bake (possibly extended)
// and two promotion waves, with room for a loaded machine.
func (e *environment) walkTimeout() time.Duration {
	t := e.opts.Timing
	return t.Baseline + 3*t.Bake + 20*t.Poll + 2*time.Minute
}

// waitRevertBranch waits for the revert branch of a rolled-back change.
func (e *environment) waitRevertBranch(ctx context.Context, v int64) error {
	name := fmt.Sprintf("schemacanary/revert-%d", v)
	deadline := time.Now().Add(30 * time.Second)
	for !e.repo.branchExists(name) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: no branch %s after 30s", ErrTimeout, name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	e.p.line("revert branch %s pushed to the repository: merging it releases the queue", name)
	return nil
}

// statusURL is the status page's address.
func (e *environment) statusURL() string {
	if e.daemon == nil {
		return ""
	}
	return e.daemon.url
}

func (e *environment) ports() string {
	var ps []string
	ps = append(ps, fmt.Sprintf("control %d", e.clusters.Control.Port))
	for _, in := range e.clusters.Fleet {
		ps = append(ps, fmt.Sprintf("%s %d", in.Name, in.Cluster.Port))
	}
	return strings.Join(ps, ", ")
}

// close stops everything in reverse order and removes the directory.
func (e *environment) close() {
	var errs []error
	if e.daemon != nil {
		errs = append(errs, e.daemon.stop())
	}
	if e.load != nil {
		errs = append(errs, e.load.Stop())
	}
	if e.alerts != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, e.alerts.stop(sctx))
		cancel()
	}
	if e.clusters != nil {
		e.clusters.Stop()
	}
	if e.ownDir {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	if err := errors.Join(errs...); err != nil {
		e.p.line("cleanup: %v", err)
	}
}

// thousands formats n with thousands separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
