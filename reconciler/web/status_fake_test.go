package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// fakeStatusSource is an in-memory StatusSource for the status page tests.
type fakeStatusSource struct {
	mu      sync.Mutex
	changes map[int64]*change.StatusChangeDetail
	err     error
}

var _ StatusSource = (*fakeStatusSource)(nil)

func (f *fakeStatusSource) ListChanges(context.Context) ([]change.StatusChange, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := make([]change.StatusChange, 0, len(f.changes))
	for _, c := range f.changes {
		out = append(out, c.StatusChange)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out, nil
}

func (f *fakeStatusSource) GetChange(_ context.Context, v int64) (*change.StatusChangeDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	c, ok := f.changes[v]
	if !ok {
		return nil, nil
	}
	cp := *c
	return &cp, nil
}

var errStoreDown = errors.New("control store: connection refused")

// demoLikeStatus builds the status of a run like `schemacanary demo`: two
// changes done, the harmful one rolled back after its canary latency
// degraded, and the risky one awaiting approval.
func demoLikeStatus(start time.Time) *fakeStatusSource {
	rng := rand.New(rand.NewPCG(7, 11))
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	done := func(v int64, name string, conf float64, risk int, owner string) *change.StatusChangeDetail {
		return &change.StatusChangeDetail{
			StatusChange: change.StatusChange{Version: v, Name: name, Path: fmt.Sprintf("migrations/%05d_%s.sql", v, name),
				State: "done", Confidence: conf, Risk: risk, Owner: owner, Author: "Dana Lee", PR: int(v) + 100, UpdatedAt: at(float64(v))},
			Commit: "4f0c2a9d1e7b55aa0c3d", ModelVersion: "bootstrap-2026.11", Decision: "proceed (confidence above 0.80)",
			Timeline: []change.StatusEvent{{At: at(0), Step: "discovered", Message: "merged in PR #" + fmt.Sprint(v+100)}, {At: at(3), Step: "done", Message: "applied on 4/4 instances"}},
		}
	}
	series := func(base, jitter float64, from, to, step float64, after float64, factor float64, until float64) []change.StatusPoint {
		var pts []change.StatusPoint
		for s := from; s <= to; s += step {
			v := base * (1 + jitter*(rng.Float64()-0.5))
			if after > 0 && s >= after && (until == 0 || s < until) {
				v *= factor * (1 + 0.2*rng.Float64())
			}
			pts = append(pts, change.StatusPoint{At: at(s), Value: math.Round(v*1000) / 1000})
		}
		return pts
	}
	harmful := &change.StatusChangeDetail{
		StatusChange: change.StatusChange{Version: 16, Name: "drop_orders_customer_index", Path: "migrations/00016_drop_orders_customer_index.sql",
			State: "rolled_back", Confidence: 0.87, Risk: 2, Owner: "checkout", Author: "Sam Okafor", PR: 116, UpdatedAt: at(130)},
		Commit: "9b1d3c7e2a4f8e6d0c1b", Ticket: "SHOP-171", ModelVersion: "bootstrap-2026.11", Decision: "proceed (confidence 0.87 ≥ 0.80)",
		Reasons: []change.StatusReason{
			{Feature: "risk", Text: "the author rated it 2/10", Contribution: 0.92},
			{Feature: "destructive_up", Text: "the Up section drops an index", Contribution: -0.61},
			{Feature: "lock_access_exclusive", Text: "takes an ACCESS EXCLUSIVE lock on public.orders", Contribution: -0.44},
			{Feature: "rows_touched_log10", Text: "public.orders holds 300,000 rows", Contribution: -0.18},
			{Feature: "rewrite", Text: "no table rewrite", Contribution: 0.35},
		},
		AppliedAt:      at(40),
		RolledBackAt:   at(97),
		RollbackReason: "latency:orders_by_customer on the canary is 412× the control (Mann-Whitney U, p = 3.1e-09)",
		RevertBranch:   "schemacanary/revert-16",
		Timeline: []change.StatusEvent{
			{At: at(0), Step: "discovered", Message: "merged in PR #116 by Sam Okafor"},
			{At: at(1.2), Step: "predicted", Message: "confidence 0.87 (model bootstrap-2026.11)"},
			{At: at(1.3), Step: "approved", Message: "confidence above threshold 0.80"},
			{At: at(10), Step: "baseline", Instance: "canary-1", Wave: "canary", Message: "sampling KPIs for 30s before the change"},
			{At: at(40), Step: "apply", Instance: "canary-1", Wave: "canary", Message: "goose up 16 in 41 ms (lock_timeout 100ms, 1 attempt)"},
			{At: at(41), Step: "baking", Wave: "canary", Message: "bake 60s, sampling every 2s"},
			{At: at(96), Step: "judge", Wave: "canary", Message: "fail: latency:orders_by_customer p = 3.1e-09", Failed: true},
			{At: at(97), Step: "rollback", Instance: "canary-1", Wave: "canary", Message: "fenced orders, ran down (CREATE INDEX, 310 ms), reset 6 sessions, unfenced", Failed: true},
			{At: at(99), Step: "revert", Message: "pushed branch schemacanary/revert-16"},
		},
	}
	harmful.KPIs = []change.StatusKPI{
		{KPI: judge.KPILatencyPrefix + "orders_by_customer", Unit: "ms (p95)",
			Canary: series(0.9, 0.3, 10, 128, 2, 40, 300, 97), Control: series(0.85, 0.3, 10, 128, 2, 0, 1, 0),
			Verdict: &judge.Verdict{KPI: judge.KPILatencyPrefix + "orders_by_customer", Reference: judge.RefControl, Outcome: judge.Fail,
				Test: judge.TestMannWhitney, PValue: 3.1e-9, CanaryValue: 351.2, ReferenceValue: 0.85, Reason: "412× slower"}},
		{KPI: judge.KPIErrorRate, Unit: "ratio",
			Canary: series(0.002, 0.8, 10, 128, 2, 0, 1, 0), Control: series(0.002, 0.8, 10, 128, 2, 0, 1, 0),
			Verdict: &judge.Verdict{KPI: judge.KPIErrorRate, Reference: judge.RefControl, Outcome: judge.Pass,
				Test: judge.TestTwoProp, PValue: 0.62, CanaryValue: 0.0021, ReferenceValue: 0.0019}},
	}
	risky := &change.StatusChangeDetail{
		StatusChange: change.StatusChange{Version: 17, Name: "widen_products_price", Path: "migrations/00017_widen_products_price.sql",
			State: "awaiting_approval", Confidence: 0.34, Risk: 8, Owner: "catalog", Author: "Ana Ruiz", PR: 117, UpdatedAt: at(140)},
		Ticket: "SHOP-182", ModelVersion: "bootstrap-2026.11", Decision: "awaiting approval (confidence 0.34 < 0.80)",
		Reasons: []change.StatusReason{
			{Feature: "rewrite", Text: "ALTER COLUMN TYPE rewrites public.products", Contribution: -1.3},
			{Feature: "risk", Text: "the author rated it 8/10", Contribution: -0.8},
		},
		Timeline: []change.StatusEvent{{At: at(135), Step: "discovered", Message: "merged in PR #117"}, {At: at(136), Step: "awaiting_approval", Message: "run `schemacanary approve 17 --by NAME`"}},
	}
	f := &fakeStatusSource{changes: map[int64]*change.StatusChangeDetail{16: harmful, 17: risky}}
	f.changes[14] = done(14, "create_customer_order_totals_view", 0.97, 1, "analytics")
	f.changes[15] = done(15, "add_orders_coupon_code", 0.93, 2, "checkout")
	f.changes[13] = done(13, "check_payments_amount_positive", 0.71, 3, "payments")
	return f
}
