package lab

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// Checks are the gate's checks that need the database, run on a run's
// database by the product's analysis.Target (the daemon runs the same
// ones on the canary before it is touched): the dry run of Up on a
// schema-only copy and the data checks on the rows. The other parts of
// the gate (the static findings, the workload statements the change
// breaks) are recomputed from the record's SQL and live context.
type Checks struct {
	// DryRun is the dry run's outcome (analysis.Check*).
	DryRun string `json:"dry_run"`
	// DataChecks answer the analysis' data checks, in order.
	DataChecks []analysis.DataCheckResult `json:"data_checks,omitempty"`
	// Findings are what the checks found: dry-run-failed,
	// data-check-failed and check-not-run.
	Findings []analysis.Finding `json:"findings,omitempty"`
	// Seconds is how long the checks took.
	Seconds float64 `json:"seconds"`
}

// checkRules are the findings of analysis.Target.Inspect that Checks keep.
var checkRules = map[string]bool{"dry-run-failed": true, "data-check-failed": true, "check-not-run": true}

// runChecks runs m's dry run and data checks on the database at dsn with
// the product's analysis.Target, as the daemon does before a canary. The
// database is only read (the dry run uses a scratch copy of its schema).
func runChecks(ctx context.Context, dsn string, m migration.Migration, log *slog.Logger) (*Checks, error) {
	t0 := time.Now()
	// The checks keep no feature, so a nominal throughput spares the
	// catalog its calibration and one sample of the table statistics its
	// two seconds between samples (rates are 0 anyway: a check runs no
	// load).
	t, err := analysis.OpenTarget(ctx, dsn, analysis.WithTargetLogger(log),
		analysis.WithTargetCatalog(analysis.WithThroughput(analysis.Throughput{RewriteBytesPerSec: 1e8, ScanBytesPerSec: 5e8}),
			analysis.WithSampleInterval(0)))
	if err != nil {
		return nil, fmt.Errorf("lab: checks: %w", err)
	}
	defer t.Close()
	rep, err := analysis.Analyze(ctx, m, analysis.WithCatalog(t.Catalog()))
	if err != nil {
		return nil, fmt.Errorf("lab: checks: analyze %s: %w", m.Path, err)
	}
	if err := t.Inspect(ctx, m, rep); err != nil {
		return nil, fmt.Errorf("lab: checks: %w", err)
	}
	c := &Checks{DryRun: rep.Live.DryRun, DataChecks: rep.Live.DataChecks}
	for _, f := range rep.Findings {
		if checkRules[f.RuleID] {
			c.Findings = append(c.Findings, f)
		}
	}
	c.Seconds = time.Since(t0).Seconds()
	return c, nil
}

// CheckSummary counts what Check did.
type CheckSummary struct {
	// Records is how many records were given; Checked how many were
	// checked now; Failed how many of those the gate fails; Ran how many
	// times the checks ran on a database (records that share a template
	// and a table size share one run).
	Records, Checked, Failed, Ran int
	Elapsed                       time.Duration
}

// checkGroup names what a record's checks depend on: its migration (the
// template's file) and its database (the template's schema filled to the
// table size). Records of one group share one run of the checks; the load,
// the long transaction and the goose version do not enter them.
func checkGroup(template string, rows int64) string { return fmt.Sprintf("%s@%d", template, rows) }

// checkPlan is what Check has to do.
type checkPlan struct {
	// runs are the trials whose databases the checks run on, one per
	// checkGroup; members the records each group's run answers.
	runs    []Trial
	members map[string][]*Record
	// lent are the records that take the checks a resumed record of their
	// group already has; todo counts the records without checks.
	lent []*Record
	todo int
}

// planChecks groups the records without checks by checkGroup. Every one
// must be a run of the plan whose trials are byKey.
func planChecks(recs []Record, byKey map[string]Trial) (checkPlan, error) {
	known := map[string]*Checks{}
	for i := range recs {
		if recs[i].Checks != nil {
			known[checkGroup(recs[i].Template, recs[i].Rows)] = recs[i].Checks
		}
	}
	p := checkPlan{members: map[string][]*Record{}}
	for i := range recs {
		rec := &recs[i]
		if rec.Checks != nil {
			continue
		}
		tr, ok := byKey[rec.Key()]
		if !ok || tr.Template.ID != rec.Template {
			return p, fmt.Errorf("%w: run %s (%s) is not in the plan of these flags: check with the flags that measured it", ErrBadConfig, rec.Key(), rec.Template)
		}
		p.todo++
		g := checkGroup(rec.Template, rec.Rows)
		if c, ok := known[g]; ok {
			rec.Checks = c
			p.lent = append(p.lent, rec)
			continue
		}
		if len(p.members[g]) == 0 {
			p.runs = append(p.runs, tr)
		}
		p.members[g] = append(p.members[g], rec)
	}
	return p, nil
}

// Check runs the gate's database checks (Checks) for every record that
// has none, on its run's database prepared as the trial prepared it (the
// lane's clone of its table size, or the corpus file's history), without
// load, and recomputes its features and gate. The records of one
// checkGroup share one run (a record resumed with checks lends them to the
// others of its group). The lanes take the runs as they take trials: a
// check on a big table shares the machine with at most one other. Records
// must come from a plan of the Runner's configuration (the same flags as
// the lab run that measured them). done is called with each record as it
// is checked (to save progress); Check then stops at its first error.
func (r *Runner) Check(ctx context.Context, adminDSN string, recs []Record, done func(*Record) error) (CheckSummary, error) {
	start := time.Now()
	sum := CheckSummary{Records: len(recs)}
	srv, err := newServer(adminDSN, r.log)
	if err != nil {
		return sum, err
	}
	if r.corpusDir != "" {
		if r.cfg.Corpus, _, err = r.checkCorpus(ctx, srv); err != nil {
			return sum, err
		}
	}
	trials, err := Plan(r.cfg)
	if err != nil {
		return sum, err
	}
	byKey := make(map[string]Trial, len(trials))
	for _, tr := range trials {
		byKey[tr.Key()] = tr
	}
	plan, err := planChecks(recs, byKey)
	if err != nil {
		return sum, err
	}
	runs, members := plan.runs, plan.members
	resumed := len(recs) - plan.todo
	bar := newProgress(r.progress, len(recs), resumed, "checked", "gate fails")
	// finish recomputes a checked record's features and gate and saves it.
	var mu sync.Mutex
	finish := func(rec *Record) error {
		if err := rec.featurize(ctx); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		sum.Checked++
		if rec.GateFailed() {
			sum.Failed++
		}
		err := done(rec)
		bar.update(resumed+sum.Checked, sum.Checked, sum.Failed)
		return err
	}
	for _, rec := range plan.lent {
		if err := finish(rec); err != nil {
			return sum, err
		}
	}
	if len(runs) == 0 {
		bar.done()
		sum.Elapsed = time.Since(start)
		return sum, nil
	}
	lanes, err := r.prepare(ctx, srv, runs)
	if err != nil {
		return sum, err
	}
	defer closeLanes(lanes)

	// A check runs no load: only a big table makes it heavy.
	sched := newScheduler(runs, len(lanes), 0, start, func(tr Trial) bool { return tr.Rows >= HeavyRows })
	g, gctx := errgroup.WithContext(ctx)
	stop := context.AfterFunc(gctx, sched.stop)
	defer stop()
	for _, ln := range lanes {
		g.Go(func() error {
			for {
				tr, ok := sched.next()
				if !ok {
					return nil
				}
				group := members[checkGroup(tr.Template.ID, tr.Rows)]
				c, err := r.checkOne(gctx, srv, ln, tr, group[0].migration())
				sched.done(tr)
				if err != nil {
					return fmt.Errorf("lab: checks of run %s (%s): %w", tr.Key(), tr.Template.ID, err)
				}
				mu.Lock()
				sum.Ran++
				mu.Unlock()
				for _, rec := range group {
					rec.Checks = c
					if err := finish(rec); err != nil {
						return err
					}
				}
			}
		})
	}
	err = g.Wait()
	bar.done()
	sum.Elapsed = time.Since(start)
	if err != nil {
		return sum, err
	}
	return sum, ctx.Err()
}

// checkOne prepares tr's database as its trial did and runs its checks.
func (r *Runner) checkOne(ctx context.Context, srv *server, ln *lane, tr Trial, m migration.Migration) (*Checks, error) {
	e, err := r.setup(ctx, srv, ln, tr)
	if err != nil {
		return nil, err
	}
	defer e.close()
	return runChecks(ctx, e.applyDSN, m, r.log)
}

// CheckWorkPath is the work file of CheckDataset writing path.
func CheckWorkPath(path string) string { return path + ".checks.partial" }

// CheckDataset runs Check for the records of the dataset at in and writes
// every record, features and gate recomputed, to out (WriteDataset). Each
// checked record goes, synced, to CheckWorkPath(out): a later call resumes
// from it (a torn last line, from a kill, is dropped), and it is removed
// once out is written.
func (r *Runner) CheckDataset(ctx context.Context, adminDSN, in, out string) (CheckSummary, []Record, error) {
	recs, err := ReadRecords(in)
	if err != nil {
		return CheckSummary{}, nil, err
	}
	work := CheckWorkPath(out)
	fh, err := os.OpenFile(work, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return CheckSummary{}, nil, fmt.Errorf("lab: %w", err)
	}
	defer fh.Close()
	prev, good, err := readRecords(fh, true)
	if err != nil {
		return CheckSummary{}, nil, fmt.Errorf("lab: %s: %w", work, err)
	}
	if err := fh.Truncate(good); err != nil {
		return CheckSummary{}, nil, fmt.Errorf("lab: %w", err)
	}
	if _, err := fh.Seek(good, io.SeekStart); err != nil {
		return CheckSummary{}, nil, fmt.Errorf("lab: %w", err)
	}
	checked := make(map[string]*Checks, len(prev))
	for _, p := range prev {
		checked[p.Key()] = p.Checks
	}
	for i := range recs {
		if recs[i].Checks == nil {
			recs[i].Checks = checked[recs[i].Key()]
		}
	}
	sum, err := r.Check(ctx, adminDSN, recs, func(rec *Record) error {
		if err := WriteRecords(fh, []Record{*rec}); err != nil {
			return fmt.Errorf("lab: %s: %w", work, err)
		}
		return fh.Sync()
	})
	if err != nil {
		return sum, nil, err
	}
	if err := Refeature(ctx, recs); err != nil {
		return sum, nil, err
	}
	if err := WriteDataset(out, recs); err != nil {
		return sum, nil, err
	}
	fh.Close()
	if err := os.Remove(work); err != nil {
		return sum, nil, fmt.Errorf("lab: %w", err)
	}
	return sum, recs, nil
}
