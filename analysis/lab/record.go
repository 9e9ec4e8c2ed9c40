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

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/model"
)

// Record is one line of the lab dataset: a model.Example (features, safe,
// group = template id, heldout) plus everything needed to understand it and
// to recompute its features offline (Refeature).
type Record struct {
	model.Example
	Index    int    `json:"index"`
	Template string `json:"template"`
	Family   string `json:"family"`
	// Rows, Rate and LongTxn are the configuration.
	Rows    int64   `json:"rows"`
	Rate    float64 `json:"rate"`
	LongTxn bool    `json:"long_txn"`
	// Risk is the drawn author label (also the "risk" feature).
	Risk int `json:"risk"`
	// Up, Down and NoTransaction are the migration as applied.
	Up            []string `json:"up"`
	Down          []string `json:"down"`
	NoTransaction bool     `json:"no_transaction,omitempty"`
	// Context is the live catalog context the analysis saw.
	Context map[string]analysis.TableStats `json:"context,omitempty"`
	// Live are measured features that are not part of the offline report:
	// analysis.LiveFeatureDocs (measured by analysis.MeasureLive) and
	// FeatureBaselineP50, FeatureBaselineP99.
	Live map[string]float64 `json:"live,omitempty"`
	// Outcome is what was measured.
	Outcome Outcome `json:"outcome"`
}

// Outcome is the measured result of one trial.
type Outcome struct {
	// ApplyError is the migration's error ("" when it succeeded);
	// TimedOut is set when it ran past Config.ApplyTimeout.
	ApplyError string  `json:"apply_error,omitempty"`
	TimedOut   bool    `json:"timed_out,omitempty"`
	ApplyMS    float64 `json:"apply_ms"`
	// Latency quantiles of all load statements, in milliseconds.
	BaselineP50 float64 `json:"baseline_p50_ms"`
	BaselineP99 float64 `json:"baseline_p99_ms"`
	CanaryP50   float64 `json:"canary_p50_ms"`
	CanaryP99   float64 `json:"canary_p99_ms"`
	CanaryMax   float64 `json:"canary_max_ms"`
	// Calls and errors of the load.
	BaselineCalls  int `json:"baseline_calls"`
	CanaryCalls    int `json:"canary_calls"`
	CanaryErrors   int `json:"canary_errors"`
	BaselineErrors int `json:"baseline_errors,omitempty"`
	// MaxLockWaits is the most sessions seen waiting for a lock at once.
	MaxLockWaits float64 `json:"max_lock_waits"`
	// Verdict is the judge's (or the apply guard's) decision.
	Verdict Verdict `json:"verdict"`
	// Repaired is set when Down did not restore the table and it was rebuilt.
	Repaired bool `json:"repaired,omitempty"`
}

// Baseline KPI features: the application's median and p99 latency (ms)
// right before the change, as ln(1+ms). A busy server turns a short lock
// into a long queue. The reconciler has them from the canary's pre-change
// KPIs; the lab from its baseline window.
const (
	FeatureBaselineP50 = "live_baseline_p50_ms_log1p"
	FeatureBaselineP99 = "live_baseline_p99_ms_log1p"
)

func baselineFromQuantiles(p50, p99 float64) map[string]float64 {
	return map[string]float64{FeatureBaselineP50: math.Log1p(p50), FeatureBaselineP99: math.Log1p(p99)}
}

// migration is the analysis input for the record's SQL.
func (r *Record) migration() analysis.Migration {
	m := analysis.Migration{Path: r.Template + ".sql", HasDown: len(r.Down) > 0, NoTransaction: r.NoTransaction, Risk: r.Risk}
	line := 2
	for _, s := range r.Up {
		m.Up = append(m.Up, analysis.Statement{SQL: s, Line: line})
		line++
	}
	line++
	for _, s := range r.Down {
		m.Down = append(m.Down, analysis.Statement{SQL: s, Line: line})
		line++
	}
	return m
}

// featurize analyzes the record's migration with catalog (nil for none) and
// sets Features: the report's features, the risk label and Live.
func (r *Record) featurize(ctx context.Context, catalog analysis.Catalog) error {
	var opts []analysis.Option
	if catalog != nil {
		opts = append(opts, analysis.WithCatalog(catalog))
	}
	rep, err := analysis.Analyze(ctx, r.migration(), opts...)
	if err != nil {
		return fmt.Errorf("lab: analyze %s: %w", r.Template, err)
	}
	r.Context = rep.Context
	if len(r.Live) > 0 {
		// What analysis.MeasureLive measured before the apply.
		rep.Live = &analysis.LiveContext{
			OldestXactSeconds: r.Live[analysis.FeatureOldestXactSeconds],
			WorkloadStats:     true,
			WorkloadRefs:      r.Live[analysis.FeatureWorkloadRefs],
			DroppedIndexScans: math.Expm1(r.Live[analysis.FeatureDroppedIndexScans]),
		}
	}
	f := model.Features(rep.Features())
	if _, ok := f[model.FeatureRisk]; !ok {
		f[model.FeatureRisk] = float64(r.Risk)
	}
	r.Features = f
	r.baselineFromOutcome()
	for k, v := range r.Live {
		f[k] = v
	}
	return nil
}

// baselineFromOutcome fills the baseline latency features, when missing,
// from the same window's quantiles in the stored outcome: for records
// written before these features existed, and for a trial whose load had
// not yet reported any execution when the features were read.
func (r *Record) baselineFromOutcome() {
	if _, ok := r.Live[FeatureBaselineP99]; ok || r.Outcome.BaselineCalls == 0 {
		return
	}
	if r.Live == nil {
		r.Live = map[string]float64{}
	}
	for k, v := range baselineFromQuantiles(r.Outcome.BaselineP50, r.Outcome.BaselineP99) {
		r.Live[k] = v
		if r.Features != nil {
			r.Features[k] = v
		}
	}
}

// Refeature recomputes every record's features from its stored SQL, risk,
// live values and catalog context, without a database: use it after the
// analysis gains or renames features, instead of measuring again.
func Refeature(ctx context.Context, recs []Record) error {
	for i := range recs {
		var cat analysis.Catalog
		if len(recs[i].Context) > 0 {
			cat = analysis.StaticCatalog(recs[i].Context)
		}
		if err := recs[i].featurize(ctx, cat); err != nil {
			return err
		}
	}
	return nil
}

// ReadRecords reads a dataset written by Run (plain or gzip JSON lines).
func ReadRecords(path string) ([]Record, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer fh.Close()
	recs, err := ReadRecordsFrom(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

// ReadRecordsFrom reads records (plain or gzip JSON lines) from r.
func ReadRecordsFrom(rd io.Reader) ([]Record, error) {
	path := "records"
	br := bufio.NewReader(rd)
	var r io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("lab: %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	dec := json.NewDecoder(r)
	var out []Record
	for {
		var rec Record
		err := dec.Decode(&rec)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("lab: %s record %d: %w", path, len(out)+1, err)
		}
		out = append(out, rec)
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
