package assess

import (
	"context"
	"fmt"
	"testing"

	"github.com/schemacanary/schemacanary/analysis"
)

// TestNamedCases runs the named-case suite on the shipped model.
func TestNamedCases(t *testing.T) {
	t.Parallel()
	a := bootstrap(t)
	for _, nc := range NamedCases() {
		t.Run(nc.Name, func(t *testing.T) {
			why, err := nc.Check(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			if why != "" {
				t.Error(why)
			}
		})
	}
}

// The suite can fail: a model that rewards a hazard fails the order checks.
func TestNamedCasesCatchAWrongSign(t *testing.T) {
	t.Parallel()
	m := bootstrapSource().Model()
	for i := range m.Coefficients {
		if m.Coefficients[i].Name == analysis.FeatureQueuedWrites {
			m.Coefficients[i].Weight = 3 // queued writes now *raise* confidence
		}
	}
	failed, err := CheckNamedCases(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) == 0 {
		t.Error("a model rewarding queued writes passed every named case")
	}
}

// Example_reasons shows what a reviewer reads for a blocking index build.
func Example_reasons() {
	a, _ := New(bootstrapSource())
	rep, _ := analysis.Analyze(context.Background(), testMigration(false, "CREATE INDEX orders_a_idx ON orders (a)"), analysis.WithCatalog(CaseTable(5e6, 500)))
	got, _ := a.Predict(context.Background(), rep)
	fmt.Println(got.Prediction.Decision, got.Prediction.Reasons[0].Text)
	// Output:
	// needs_approval blocks writes to a 5M-row table for about 12 s
}
