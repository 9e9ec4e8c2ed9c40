package assess

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

func bootstrap(t *testing.T) *Assessor {
	t.Helper()
	m, err := model.Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Static{M: m})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testMigration(noTx bool, up ...string) migration.Migration {
	m := migration.Migration{Path: "00001_change.sql", Version: 1, Sections: migration.Sections{HasDown: true, NoTransaction: noTx, Down: []migration.Statement{{SQL: "SELECT 1", Line: 20}}}, FrontMatter: migration.FrontMatter{Risk: 2}}
	for i, s := range up {
		m.Up = append(m.Up, migration.Statement{SQL: s, Line: 2 + i})
	}
	return m
}

// sumsUp checks that Base plus every contribution is the logit of the
// printed confidence.
func sumsUp(t *testing.T, p model.Prediction) {
	t.Helper()
	sum := p.Base
	for _, c := range p.Contributions {
		sum += c.Contribution
	}
	if math.Abs(sum-p.Logit) > 1e-9 {
		t.Errorf("base %.4f + contributions = %.4f, logit %.4f", p.Base, sum, p.Logit)
	}
	if math.Abs(1/(1+math.Exp(-p.Logit))-p.Confidence) > 1e-9 {
		t.Errorf("confidence %.6f is not sigmoid(logit %.4f)", p.Confidence, p.Logit)
	}
}

func TestCertainFailureIsCappedWithTheFindingFirst(t *testing.T) {
	t.Parallel()
	a := bootstrap(t)
	for _, m := range []migration.Migration{
		testMigration(false, "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status)"),
		testMigration(false, "ALTER TABLE orders ADD COLUMN"),
		testMigration(false, "BEGIN", "CREATE TABLE a (id int)", "COMMIT"),
	} {
		got, err := a.Assess(context.Background(), Input{Migration: m})
		if err != nil {
			t.Fatal(err)
		}
		p := got.Prediction
		if p.Confidence > GateCap || p.Decision != model.DecisionNeedsApproval || !got.Gate.Failed() {
			t.Errorf("%s: confidence %.3f %s, gate %+v", m.Up[0].SQL, p.Confidence, p.Decision, got.Gate)
		}
		if !strings.HasPrefix(p.Reasons[0].Feature, "gate:") || !strings.Contains(p.Reasons[0].Text, "certain failure") {
			t.Errorf("%s: first reason %+v", m.Up[0].SQL, p.Reasons[0])
		}
		sumsUp(t, p)
	}
	invalid := analysis.Finding{RuleID: "goose-syntax", Severity: analysis.SeverityError, Message: "unknown annotation", Line: 3}
	got, err := a.Assess(context.Background(), Input{Migration: migration.Migration{Path: "bad.sql"}, Invalid: &invalid})
	if err != nil {
		t.Fatal(err)
	}
	if got.Prediction.Confidence > GateCap || got.Gate.Fails[0].RuleID != "goose-syntax" {
		t.Errorf("a file goose cannot parse: %.3f, gate %+v", got.Prediction.Confidence, got.Gate)
	}
}

func TestHoldsNeedApprovalAtAnyThreshold(t *testing.T) {
	t.Parallel()
	m, err := model.Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Static{M: m}, WithThreshold(0.01))
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Assess(context.Background(), Input{Migration: testMigration(true, "DROP DATABASE app")})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Prediction.Held || got.Prediction.Decision != model.DecisionNeedsApproval {
		t.Errorf("DROP DATABASE at threshold 0.01: %+v", got.Prediction)
	}
	sumsUp(t, got.Prediction)
}

func TestAdjustmentsForUncheckedChecks(t *testing.T) {
	t.Parallel()
	g := analysis.Gate{Unverified: []analysis.Finding{{RuleID: "check-not-run", Message: "no CREATEDB", Line: 1}, {RuleID: "check-not-run", Message: "timeout", Line: 4}}}
	p := model.Prediction{Confidence: 0.9, Logit: math.Log(9), Base: math.Log(9), Threshold: 0.8, Decision: model.DecisionProceed}
	got := p.Adjust(Adjustments(g, nil)...)
	want := math.Log(9) - 2*UnverifiedPenalty // odds 9 / 16
	if math.Abs(got.Logit-want) > 1e-12 || got.Decision != model.DecisionNeedsApproval {
		t.Errorf("logit %.4f (%s), want %.4f needs_approval", got.Logit, got.Decision, want)
	}
	sumsUp(t, got)
}

// TestRepredictFollowsTheEvidence: with the bootstrap model's live stage, a
// bake showing a significant 50x slowdown takes a confident change below
// the default rollback_below; a bake showing nothing (or only noise that
// is not significant) never lowers the confidence.
func TestRepredictFollowsTheEvidence(t *testing.T) {
	t.Parallel()
	a := bootstrap(t)
	stored, err := a.Assess(context.Background(), Input{Migration: testMigration(false, "DROP INDEX orders_customer_idx")})
	if err != nil {
		t.Fatal(err)
	}
	prior := stored.Prediction.Confidence
	clean, err := a.Repredict(stored, []model.Observation{{KPI: "latency", Increase: 3, Significant: false}})
	if err != nil {
		t.Fatal(err)
	}
	if clean.Confidence < prior {
		t.Errorf("no significant evidence lowered %.3f to %.3f", prior, clean.Confidence)
	}
	harm, err := a.Repredict(stored, []model.Observation{{KPI: "latency", Increase: 49, Significant: true}})
	if err != nil {
		t.Fatal(err)
	}
	if harm.Confidence >= 0.2 || harm.Confidence >= prior {
		t.Errorf("a significant 50x slowdown: %.3f (prior %.3f)", harm.Confidence, prior)
	}
	if harm.Reasons[0].Feature != model.EvidenceLatency || !strings.Contains(harm.Reasons[0].Text, "50.0x slower") {
		t.Errorf("reasons %+v", harm.Reasons)
	}
	sumsUp(t, harm)
}

func bootstrapSource() ModelSource {
	m, err := model.Bootstrap()
	if err != nil {
		panic(err)
	}
	return Static{M: m}
}

// A plan regression costs PlanRegressionPenalty only while the model has no
// weight of its own for analysis.FeaturePlanCostRise (a prior until
// learned), so it is never counted twice.
func TestPlanRegressionPriorUntilLearned(t *testing.T) {
	t.Parallel()
	pc := analysis.PlanChange{CostBefore: 5, CostAfter: 4000, Ratio: 800}
	pc.CallsPerSec = 15
	g := analysis.Gate{Slower: []analysis.PlanChange{pc}}
	p := model.Prediction{Confidence: 0.9, Logit: math.Log(9), Base: math.Log(9), Threshold: 0.8, Decision: model.DecisionProceed}
	boot, err := model.Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	if boot.Weighs(analysis.FeaturePlanCostRise) {
		t.Skip("the embedded model has learned plan_cost_rise_log itself")
	}
	got := p.Adjust(Adjustments(g, boot)...)
	if want := math.Log(9) - PlanRegressionPenalty; math.Abs(got.Logit-want) > 1e-12 {
		t.Errorf("bootstrap model: logit %.4f, want %.4f (the prior)", got.Logit, want)
	}
	learned := *boot
	learned.Coefficients = append(append([]model.Coefficient(nil), boot.Coefficients...),
		model.Coefficient{Name: analysis.FeaturePlanCostRise, Mean: 0.1, Scale: 1, Weight: -0.8})
	got = p.Adjust(Adjustments(g, &learned)...)
	if got.Logit != p.Logit {
		t.Errorf("a model weighing the plan rise itself still got the prior: logit %.4f, want %.4f", got.Logit, p.Logit)
	}
}
