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

// defaultThreshold is the product's default prediction.threshold; the demo
// uses it whenever it separates the safe change from the risky one.
const defaultThreshold = 0.8

// chooseThreshold predicts the three demo changes the way the daemon will
// (the same model, the live catalog of the canary under load, the risk
// label and the time) and returns a prediction.threshold at which the risky
// change waits for an approval and, when the model ranks it above the risky
// one, the safe change proceeds: the default 0.80 when it does that, else
// halfway between the two. When the model does not rank them so
// (errRanking), the threshold is the default or just above the risky
// change, and the demo's authors approve whatever else waits. The harmful
// change may fall on either side: flagged, its author approves it anyway
// and the canary decides. It returns the threshold and each change's
// confidence.
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
	t, err := pickThreshold(conf["safe"], conf["risky"])
	return t, conf, err
}

// pickThreshold is chooseThreshold's rule for the safe and the risky
// change's confidences. The margin allows for the daemon's live catalog
// seeing slightly different rates a moment later.
func pickThreshold(safe, risky float64) (float64, error) {
	const margin = 0.02
	switch {
	case safe-risky < 2*margin:
		return max(defaultThreshold, risky+margin), errRanking
	case risky+margin <= defaultThreshold && defaultThreshold <= safe-margin:
		return defaultThreshold, nil
	}
	return (risky + safe) / 2, nil
}

// errRanking says the model does not rank the risky change below the safe one.
var errRanking = errors.New("the model does not rank the risky change below the safe one")
