package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/gitsrc"
	"github.com/schemacanary/schemacanary/reconciler"
)

// defaultThreshold is used when the model does not rank the risky change
// below the two others (the demo still runs, but the story may differ).
const defaultThreshold = 0.8

// chooseThreshold predicts the three demo changes the way the daemon will
// (the same model, the live catalog of the canary under load, the risk
// label and the time) and places prediction.threshold halfway between the
// risky change's confidence and the lowest of the two others, so that the
// risky change, and only it, waits for an approval whatever model the binary
// embeds. It returns the threshold and each change's confidence.
func chooseThreshold(ctx context.Context, modelPath, canaryDSN string) (float64, map[string]float64, error) {
	var m *model.Model
	var err error
	if modelPath != "" {
		m, err = model.LoadFile(modelPath)
	} else {
		m, err = model.Bootstrap()
	}
	if err != nil {
		return 0, nil, fmt.Errorf("demo: model: %w", err)
	}
	cat, err := analysis.NewPGCatalog(ctx, canaryDSN)
	if err != nil {
		return 0, nil, fmt.Errorf("demo: catalog: %w", err)
	}
	defer cat.Close()
	conf := map[string]float64{}
	for _, c := range demoChanges {
		src, err := demoSource(c.file)
		if err != nil {
			return 0, nil, err
		}
		mig, err := gitsrc.ParseMigration("migrations/"+c.file, src)
		if err != nil {
			return 0, nil, err
		}
		rep, err := analysis.Analyze(ctx, reconciler.AnalysisInput(mig), analysis.WithCatalog(cat))
		if err != nil {
			return 0, nil, fmt.Errorf("demo: analyze %s: %w", c.file, err)
		}
		f := model.Features{}
		for k, v := range rep.Features() {
			f[k] = v
		}
		for k, v := range model.TimeFeatures(time.Now()) {
			f[k] = v
		}
		if _, ok := f["risk"]; !ok {
			f["risk"] = float64(mig.FrontMatter.Risk)
		}
		p, err := m.Predict(f)
		if err != nil {
			return 0, nil, fmt.Errorf("demo: predict %s: %w", c.file, err)
		}
		conf[c.kind] = p.Confidence
	}
	others := min(conf["safe"], conf["harmful"])
	// A margin, since the daemon's live catalog sees slightly different
	// rates a moment later.
	if others-conf["risky"] < 0.02 {
		return defaultThreshold, conf, errRanking
	}
	return (conf["risky"] + others) / 2, conf, nil
}

// errRanking says the model does not rank the risky change lowest.
var errRanking = errors.New("the model does not rank the risky change below the others")
