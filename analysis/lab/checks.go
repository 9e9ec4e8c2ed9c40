package lab

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

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
	// catalog its calibration.
	t, err := analysis.OpenTarget(ctx, dsn, analysis.WithTargetLogger(log),
		analysis.WithTargetCatalog(analysis.WithThroughput(analysis.Throughput{RewriteBytesPerSec: 1e8, ScanBytesPerSec: 5e8})))
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
	// checked now; Failed how many gate checks found a certain failure.
	Records, Checked, Failed int
	Elapsed                  time.Duration
}

// Check runs the gate's database checks (Checks) for every record that
// has none, on its run's database prepared as the trial prepared it (the
// lane's clone of its table size, or the corpus file's history), without
// load, and recomputes its features and gate. The lanes take the records
// as they take trials: a check on a big table shares the machine with at
// most one other. Records must come from a plan of the Runner's configuration (the
// same flags as the lab run that measured them). done is called with each
// record as it is checked (to save progress); Check then stops at its
// first error.
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
	records := map[string]*Record{}
	var todo []Trial
	for i := range recs {
		if recs[i].Checks != nil {
			continue
		}
		tr, ok := byKey[recs[i].Key()]
		if !ok || tr.Template.ID != recs[i].Template {
			return sum, fmt.Errorf("%w: run %s (%s) is not in the plan of these flags: check with the flags that measured it", ErrBadConfig, recs[i].Key(), recs[i].Template)
		}
		records[tr.Key()] = &recs[i]
		todo = append(todo, tr)
	}
	if len(todo) == 0 {
		sum.Elapsed = time.Since(start)
		return sum, nil
	}
	lanes, err := r.prepare(ctx, srv, todo)
	if err != nil {
		return sum, err
	}
	defer closeLanes(lanes)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A check runs no load: only a big table makes it heavy.
	sched := newScheduler(todo, len(lanes), 0, start, func(tr Trial) bool { return tr.Rows >= HeavyRows })
	stop := context.AfterFunc(ctx, sched.stop)
	defer stop()
	var (
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
			cancel()
		}
	}
	resumed := len(recs) - len(todo)
	bar := newProgress(r.progress, len(recs), resumed, "checked", "gate fails")
	var wg sync.WaitGroup
	for _, ln := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				tr, ok := sched.next()
				if !ok {
					return
				}
				rec := records[tr.Key()]
				err := r.checkOne(ctx, srv, ln, tr, rec)
				sched.done(tr)
				if err != nil {
					fail(fmt.Errorf("lab: checks of run %s (%s): %w", tr.Key(), rec.Template, err))
					return
				}
				mu.Lock()
				sum.Checked++
				if rec.GateFailed() {
					sum.Failed++
				}
				err = done(rec)
				bar.update(resumed+sum.Checked, sum.Checked, sum.Failed)
				mu.Unlock()
				if err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	bar.done()
	sum.Elapsed = time.Since(start)
	if first != nil {
		return sum, first
	}
	return sum, ctx.Err()
}

// checkOne prepares rec's database as its trial did and runs its checks.
func (r *Runner) checkOne(ctx context.Context, srv *server, ln *lane, tr Trial, rec *Record) error {
	e, err := r.setup(ctx, srv, ln, tr)
	if err != nil {
		return err
	}
	defer e.close()
	c, err := runChecks(ctx, e.applyDSN, rec.migration(), r.log)
	if err != nil {
		return err
	}
	rec.Checks = c
	return rec.featurize(ctx)
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
