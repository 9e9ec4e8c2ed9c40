package app

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/rollout"
)

// TestMain shares one throwaway cluster among the package's tests.
func TestMain(m *testing.M) { pgtest.Main(m) }

// deadlock bounds a wait that only a hang would exceed.
const deadlock = 30 * time.Second

// oneChangeSource is a Source with one merged migration, for tests that
// need the loop to reach a step and no more.
type oneChangeSource struct {
	once sync.Once
	m    *migration.Migration
}

func newOneChangeSource(t testing.TB, path, src string) *oneChangeSource {
	t.Helper()
	m, err := migration.ParseMigration(path, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return &oneChangeSource{m: m}
}

func (s *oneChangeSource) Sync(context.Context) (string, error) { return fmt.Sprintf("%040d", 1), nil }

func (s *oneChangeSource) Merged(_ context.Context, since, head string) (*reconciler.MergedSet, error) {
	if since == head {
		return &reconciler.MergedSet{}, nil
	}
	return &reconciler.MergedSet{Changes: []reconciler.Merged{{Migration: s.m, Commit: head, Author: "alice", PR: 1}}}, nil
}

func (s *oneChangeSource) Proposals(context.Context) ([]reconciler.Proposal, error) { return nil, nil }

// noRoller fails every rollout: tests using it stop before one.
type noRoller struct{}

func (noRoller) Run(context.Context, *rollout.Plan, *rollout.Checkpoint, func(rollout.Checkpoint), rollout.Repredictor, rollout.Controls) (*rollout.Result, error) {
	return nil, fmt.Errorf("no roller in this test")
}

func (noRoller) Holdings(context.Context, int64) (reconciler.Holdings, error) {
	return nil, fmt.Errorf("no roller in this test")
}

func (noRoller) Versions(context.Context, func(string) bool) (reconciler.Holdings, error) {
	return nil, fmt.Errorf("no roller in this test")
}

func (noRoller) CatchUp(context.Context, string, []rollout.CatchUpStep) (*rollout.CatchUpResult, error) {
	return nil, fmt.Errorf("no roller in this test")
}

// stuckAssessor ignores cancellation: a step that does not stop.
type stuckAssessor struct{ started chan struct{} }

func (a stuckAssessor) Assess(context.Context, assess.Input) (*assess.Assessment, error) {
	close(a.started)
	select {} // never returns
}

func (stuckAssessor) Repredict(*assess.Assessment, []model.Observation) (model.Prediction, error) {
	return model.Prediction{}, fmt.Errorf("no re-prediction in this test")
}

func (stuckAssessor) Threshold() float64 { return 0.8 }
