package lab

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// Record is one line of the lab dataset: a model.Example (features, safe,
// group = template id, heldout) plus the raw measured inputs the features
// are computed from (the SQL, the catalog context, the live values, the
// baseline latencies, the configuration), so Refeature can recompute the
// features offline whenever the feature set changes, and the outcome.
// docs/lab-datasheet.md describes every field.
type Record struct {
	model.Example
	// Index is the configuration; Arm and Repeat say which run of it this
	// is (Key). The training data are the primary arm's Repeat 0 runs.
	Index  int `json:"index"`
	Arm    Arm `json:"arm"`
	Repeat int `json:"repeat,omitempty"`
	// Source is KindTemplate, KindComposed or KindCorpus; Template and
	// Family name the template (for a corpus replay:
	// "corpus/<project>/<file>" and "corpus_<owner>").
	Source   string `json:"source"`
	Template string `json:"template"`
	Family   string `json:"family"`
	// Rows, ReadRate, WriteRate, LongTxnSeconds and LongTxnWrite are the
	// configuration (see Trial).
	Rows           int64   `json:"rows"`
	ReadRate       float64 `json:"read_rate"`
	WriteRate      float64 `json:"write_rate"`
	LongTxnSeconds float64 `json:"long_txn_seconds"`
	LongTxnWrite   bool    `json:"long_txn_write,omitempty"`
	// Risk is the drawn author label (also the "risk" feature).
	Risk int `json:"risk"`
	// Up, Down and NoTransaction are the migration as applied (statements,
	// or for a corpus file each section as one script); Goose is the goose
	// file handed to the applier and Version its goose version.
	Up            []string `json:"up"`
	Down          []string `json:"down"`
	NoTransaction bool     `json:"no_transaction,omitempty"`
	Goose         string   `json:"goose"`
	Version       int64    `json:"version"`
	// Context is the live catalog context the analysis saw (measured during
	// the baseline window).
	Context map[string]analysis.TableStats `json:"context,omitempty"`
	// LiveContext is what analysis.MeasureLive saw right before the apply:
	// the oldest open transaction, the workload's use of what the change
	// removes.
	LiveContext *analysis.LiveContext `json:"live_context,omitempty"`
	// Checks are the gate's database checks (the dry run and the data
	// checks) on the run's database, made by `lab --checks`; nil until
	// then.
	Checks *Checks `json:"checks,omitempty"`
	// Outcome is what was measured.
	Outcome Outcome `json:"outcome"`
}

// Key identifies the run: "<index>/<arm>/<repeat>", as Trial.Key.
func (r *Record) Key() string { return fmt.Sprintf("%d/%s/%d", r.Index, r.Arm, r.Repeat) }

// Outcome is the measured result of one trial.
type Outcome struct {
	// ApplyError is the migration's error ("" when it succeeded);
	// TimedOut is set when it was still running (or waiting) at the
	// trial's apply timeout, LockTimeout when the applier gave up on its
	// lock.
	ApplyError  string `json:"apply_error,omitempty"`
	TimedOut    bool   `json:"timed_out,omitempty"`
	LockTimeout bool   `json:"lock_timeout,omitempty"`
	// ApplyMS is the whole Apply call; WaitMS the part of it the applier
	// spent waiting, without requesting a lock, for long transactions
	// (excluded from the canary window); Attempts how often it ran the
	// migration.
	ApplyMS  float64 `json:"apply_ms"`
	WaitMS   float64 `json:"wait_ms,omitempty"`
	Attempts int     `json:"attempts,omitempty"`
	// Latency quantiles of all load statements, in milliseconds, over the
	// baseline and canary windows.
	BaselineP50 float64 `json:"baseline_p50_ms"`
	BaselineP99 float64 `json:"baseline_p99_ms"`
	CanaryP50   float64 `json:"canary_p50_ms"`
	CanaryP99   float64 `json:"canary_p99_ms"`
	CanaryMax   float64 `json:"canary_max_ms"`
	// Classes are the same per query class (the judge compares per class).
	Classes map[string]ClassOutcome `json:"classes,omitempty"`
	// Calls and errors of the load.
	BaselineCalls  int `json:"baseline_calls"`
	CanaryCalls    int `json:"canary_calls"`
	CanaryErrors   int `json:"canary_errors"`
	BaselineErrors int `json:"baseline_errors,omitempty"`
	// BaselineMS and CanaryMS are the windows' lengths.
	BaselineMS float64 `json:"baseline_ms,omitempty"`
	CanaryMS   float64 `json:"canary_ms,omitempty"`
	// MaxLockWaits is the most sessions seen waiting for a lock at once
	// during the canary window.
	MaxLockWaits float64 `json:"max_lock_waits"`
	// Verdict is the judge's (or the apply guard's) decision.
	Verdict Verdict `json:"verdict"`
	// RevertError is the applier's error running Down ("" when it worked
	// or nothing was applied); Repaired is set when the table still
	// differed afterwards and was cloned again from its template.
	RevertError string `json:"revert_error,omitempty"`
	Repaired    bool   `json:"repaired,omitempty"`
	// FilledRows is, for a corpus replay, the rows actually made up in the
	// tables it loads (constraints may refuse made-up rows).
	FilledRows int64 `json:"filled_rows,omitempty"`
	// Started is when the trial began (UTC); TrialMS how long it took from
	// preparing its database to its revert.
	Started time.Time `json:"started"`
	TrialMS float64   `json:"trial_ms"`
}

// ClassOutcome is one query class's latencies (ms) and counts.
type ClassOutcome struct {
	BaselineN    int     `json:"baseline_n"`
	CanaryN      int     `json:"canary_n"`
	BaselineP50  float64 `json:"baseline_p50_ms"`
	BaselineP99  float64 `json:"baseline_p99_ms"`
	CanaryP50    float64 `json:"canary_p50_ms"`
	CanaryP99    float64 `json:"canary_p99_ms"`
	CanaryErrors int     `json:"canary_errors,omitempty"`
}

// Baseline KPI features: the application's median and p99 latency (ms)
// right before the change, as ln(1+ms). A busy server turns a short lock
// into a long queue. The reconciler has them from the canary's pre-change
// KPIs; the lab from its baseline window (Outcome.BaselineP50/P99).
const (
	FeatureBaselineP50 = "live_baseline_p50_ms_log1p"
	FeatureBaselineP99 = "live_baseline_p99_ms_log1p"
)

// migration is the analysis input for the record's SQL.
func (r *Record) migration() migration.Migration {
	return analysisMigration(r.Template, r.Up, r.Down, r.NoTransaction, r.Risk)
}

func analysisMigration(id string, up, down []string, noTx bool, risk int) migration.Migration {
	m := migration.Migration{Path: gooseName(id) + ".sql", Sections: migration.Sections{HasDown: len(down) > 0, NoTransaction: noTx}, FrontMatter: migration.FrontMatter{Risk: risk}}
	line := 2
	for _, s := range up {
		m.Up = append(m.Up, migration.Statement{SQL: s, Line: line})
		line += 1 + strings.Count(s, "\n")
	}
	line++
	for _, s := range down {
		m.Down = append(m.Down, migration.Statement{SQL: s, Line: line})
		line += 1 + strings.Count(s, "\n")
	}
	return m
}

// featurize analyzes the record's migration with the static catalog of its
// stored context and sets Features: the report's features (with the stored
// live context), the risk label and the baseline latencies; and Gate: the
// product's gate (assess.ExampleGate) from the analysis' findings, the
// workload statements the stored live context says the change breaks
// (judged again by the current rules: analysis.Report.RecheckBroken) and
// the stored Checks.
func (r *Record) featurize(ctx context.Context) error {
	m := r.migration()
	var opts []analysis.Option
	if len(r.Context) > 0 {
		opts = append(opts, analysis.WithCatalog(analysis.StaticCatalog(r.Context)))
	}
	rep, err := analysis.Analyze(ctx, m, opts...)
	if err != nil {
		return fmt.Errorf("lab: analyze %s: %w", r.Template, err)
	}
	r.Context = rep.Context
	if r.LiveContext != nil {
		live := *r.LiveContext
		// The statements it broke, judged by the current rules.
		live.Broken = rep.RecheckBroken(live.Broken)
		rep.Live = &live
		rep.AddBrokenFindings(m)
	}
	if r.Checks != nil {
		rep.Findings = append(rep.Findings, r.Checks.Findings...)
	}
	r.Gate = assess.ExampleGate(rep.Gate())
	f := model.Features(rep.Features())
	if _, ok := f[model.FeatureRisk]; !ok {
		f[model.FeatureRisk] = float64(r.Risk)
	}
	if r.Outcome.BaselineCalls > 0 {
		f[FeatureBaselineP50] = math.Log1p(r.Outcome.BaselineP50)
		f[FeatureBaselineP99] = math.Log1p(r.Outcome.BaselineP99)
	}
	r.Features = f
	return nil
}

// Refeature recomputes every record's features from its stored SQL, risk,
// catalog context, live context and baseline latencies, without a
// database: use it after the analysis gains or renames features, instead
// of measuring again.
func Refeature(ctx context.Context, recs []Record) error {
	for i := range recs {
		if err := recs[i].featurize(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ReadRecords reads a dataset written by Run (plain or gzip JSON lines;
// header lines of a work file are skipped).
func ReadRecords(path string) ([]Record, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer fh.Close()
	recs, err := ReadRecordsFrom(fh)
	if err != nil {
		return nil, fmt.Errorf("lab: %s: %w", path, err)
	}
	return recs, nil
}

// ReadRecordsFrom reads records (plain or gzip JSON lines; header lines of
// a work file are skipped) from r.
func ReadRecordsFrom(r io.Reader) ([]Record, error) {
	recs, _, err := readRecords(r, false)
	return recs, err
}

// readRecords decodes JSON lines (gzip when the magic says so). With
// tolerant, a torn last line (a killed writer) ends the input instead of
// failing it; good is then the byte length of the whole lines read.
func readRecords(r io.Reader, tolerant bool) (recs []Record, good int64, err error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, err
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) && (len(line) == 0 || tolerant) {
			return recs, good, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if tolerant && errors.Is(err, io.ErrUnexpectedEOF) {
				return recs, good, nil
			}
			return nil, 0, err
		}
		if isHeader(line) {
			good += int64(len(line))
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			if tolerant {
				return recs, good, nil
			}
			return nil, 0, fmt.Errorf("record %d: %w", n, err)
		}
		recs = append(recs, rec)
		good += int64(len(line))
	}
}

// WriteRecords writes one JSON record per line.
func WriteRecords(w io.Writer, recs []Record) error {
	enc := json.NewEncoder(w)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return fmt.Errorf("lab: write record %d: %w", i, err)
		}
	}
	return nil
}

// Dataset is the records as model examples: features, label, template
// (the group) and family.
func Dataset(recs []Record) model.Dataset {
	ds := make(model.Dataset, len(recs))
	for i, r := range recs {
		e := r.Example
		if r.Template != "" {
			e.Group, e.Family = r.Template, r.Family
		}
		ds[i] = e
	}
	return ds
}
