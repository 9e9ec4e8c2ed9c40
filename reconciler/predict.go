package reconciler

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/gitsrc"
)

// assessment is a migration's analysis and prediction.
type assessment struct {
	Report     *analysis.Report
	Prediction Prediction
	Features   map[string]float64
}

// assess analyzes a migration and predicts it, with the history features of
// its author and tables and the time features of at.
func (r *Reconciler) assess(ctx context.Context, mig *gitsrc.Migration, author string, at time.Time) (*assessment, error) {
	rep, err := r.an.Analyze(ctx, mig)
	if err != nil {
		return nil, fmt.Errorf("analyze %s: %w", mig.Path, err)
	}
	feats := map[string]float64{}
	for k, v := range rep.Features() {
		feats[k] = v
	}
	hist, err := r.store.HistoryFeatures(ctx, author, rep.Tables)
	if err != nil {
		return nil, err
	}
	for k, v := range hist {
		feats[k] = v
	}
	for k, v := range timeFeatures(at) {
		feats[k] = v
	}
	if _, ok := feats["risk"]; !ok && mig.FrontMatter.Risk > 0 {
		feats["risk"] = float64(mig.FrontMatter.Risk)
	}
	p, err := r.pred.Predict(ctx, feats)
	if err != nil {
		return nil, fmt.Errorf("predict %s: %w", mig.Path, err)
	}
	if r.o.metrics != nil {
		r.o.metrics.confidence.Observe(p.Confidence)
	}
	return &assessment{Report: rep, Prediction: p, Features: feats}, nil
}

// timeFeatures places t (UTC) on the daily and weekly circles, under the
// names analysis/model defines (model.TimeFeatures).
func timeFeatures(t time.Time) map[string]float64 {
	t = t.UTC()
	h := (float64(t.Hour()) + float64(t.Minute())/60) / 24 * 2 * math.Pi
	wd := float64(t.Weekday()) / 7 * 2 * math.Pi
	weekend := 0.0
	if t.Weekday() == time.Saturday || t.Weekday() == time.Sunday {
		weekend = 1
	}
	return map[string]float64{
		"time_hour_sin": math.Sin(h), "time_hour_cos": math.Cos(h),
		"time_weekday_sin": math.Sin(wd), "time_weekday_cos": math.Cos(wd),
		"time_weekend": weekend,
	}
}
