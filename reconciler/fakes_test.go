package reconciler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/audit"
	"github.com/schemacanary/schemacanary/gitsrc/forge"

	"github.com/schemacanary/schemacanary/rollout/judge"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/rollout"
)

// Fakes of the reconciler's boundaries, for step tests. The whole loop is
// also tested against real Git and Postgres (e2e_test.go).

type fakeSource struct {
	mu       sync.Mutex
	commits  []string
	merged   map[string][]Merged // commit → changes introduced by it
	rejected map[string][]*migration.MigrationError
	props    []Proposal
}

func newFakeSource() *fakeSource {
	return &fakeSource{merged: map[string][]Merged{}, rejected: map[string][]*migration.MigrationError{}}
}

// merge adds a commit introducing the migration file (path, src).
func (s *fakeSource) merge(t testing.TB, path, src string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	commit := fmt.Sprintf("%040d", len(s.commits)+1)
	s.commits = append(s.commits, commit)
	m, err := migration.ParseMigration(path, []byte(src))
	var me *migration.MigrationError
	switch {
	case errors.As(err, &me):
		s.rejected[commit] = append(s.rejected[commit], me)
	case err != nil:
		t.Fatal(err)
	default:
		s.merged[commit] = append(s.merged[commit], Merged{Migration: m, Commit: commit, Author: "alice", PR: len(s.commits)})
	}
}

func (s *fakeSource) Sync(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.commits) == 0 {
		return "", nil
	}
	return s.commits[len(s.commits)-1], nil
}

func (s *fakeSource) Merged(_ context.Context, since, head string) (*MergedSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := &MergedSet{}
	on := since == ""
	for _, c := range s.commits {
		if on {
			set.Changes = append(set.Changes, s.merged[c]...)
			set.Rejected = append(set.Rejected, s.rejected[c]...)
		}
		if c == since {
			on = true
		}
		if c == head {
			break
		}
	}
	return set, nil
}

func (s *fakeSource) Proposals(context.Context) ([]Proposal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Proposal(nil), s.props...), nil
}

// fakeAssessor reports table public.t and the risk; risk ≤ 5 is
// confident (0.95), above is not (0.40). A bake re-prediction drops to 0.05
// when the judge saw a significant latency rise.
type fakeAssessor struct{}

func (fakeAssessor) Assess(_ context.Context, in assess.Input) (*assess.Assessment, error) {
	m := in.Migration
	rep := &analysis.Report{Path: m.Path, Version: m.Version, Tables: []string{"public.t"}, StrongestLock: "AccessExclusiveLock", Risk: m.FrontMatter.Risk}
	c := 0.95
	if m.FrontMatter.Risk > 5 {
		c = 0.40
	}
	p := model.Prediction{Confidence: c, Threshold: 0.8, Decision: model.DecisionNeedsApproval, ModelVersion: "fake-1", Logit: math.Log(c / (1 - c)),
		Reasons: []model.Reason{{Feature: "risk", Value: float64(m.FrontMatter.Risk), Contribution: 0.5 - float64(m.FrontMatter.Risk)/10, Text: "risk label"}}}
	if c >= 0.8 {
		p.Decision = model.DecisionProceed
	}
	return &assess.Assessment{Path: m.Path, Version: m.Version, Report: rep, Features: model.Features{"risk": float64(m.FrontMatter.Risk)}, Prediction: p}, nil
}

func (fakeAssessor) Repredict(stored *assess.Assessment, obs []model.Observation) (model.Prediction, error) {
	p := stored.Prediction
	for _, o := range obs {
		if o.KPI == "latency" && o.Significant && o.Increase > 1 {
			p.Confidence = 0.05
			p.Reasons = []model.Reason{{Feature: model.EvidenceLatency, Contribution: -3, Text: "the canary's queries are slower"}}
		}
	}
	return p, nil
}

func (fakeAssessor) Threshold() float64 { return 0.8 }

// fakeRoller keeps instance versions in memory and runs the phases of
// rollout.Canary.Run: a change whose name contains "harmful" fails the
// bake, one containing "broken" fails on the canary (migration error).
// Instances in down are unreachable: a wave holding one is paused by its
// pre-flight, as rollout.Canary.Run does.
type fakeRoller struct {
	mu       sync.Mutex
	waves    [][]string
	versions map[string]int64
	down     map[string]bool
	applies  map[string]int // "instance/version" → number of applies
	rolled   map[int64]bool
	// drift are instances whose catch-up fails its drift check; caught
	// lists the catch-ups applied, "instance/version", in order.
	drift  map[string]bool
	caught []string
	// read counts the Versions reads of each instance.
	read map[string]int
	// block, when set, is called with each phase before it runs (crash tests).
	block func(rollout.Checkpoint)
}

func newFakeRoller(waves ...[]string) *fakeRoller {
	r := &fakeRoller{waves: waves, versions: map[string]int64{}, down: map[string]bool{}, applies: map[string]int{}, rolled: map[int64]bool{},
		drift: map[string]bool{}, read: map[string]int{}}
	for _, w := range waves {
		for _, in := range w {
			r.versions[in] = 0
		}
	}
	return r
}

func (r *fakeRoller) states(v int64) []rollout.InstanceVersion {
	var out []rollout.InstanceVersion
	for _, w := range r.waves {
		for _, in := range w {
			iv := rollout.InstanceVersion{Instance: in, Applied: r.versions[in] >= v}
			if r.down[in] {
				iv = rollout.InstanceVersion{Instance: in, Err: errors.New("connection refused")}
			}
			out = append(out, iv)
		}
	}
	return out
}

func (r *fakeRoller) Holdings(_ context.Context, v int64) (Holdings, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return HoldingsOf(v, r.states(v)), nil
}

// Versions reads the fake goose versions.
func (r *fakeRoller) Versions(_ context.Context, skip func(string) bool) (Holdings, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := Holdings{}
	for in, v := range r.versions {
		if skip != nil && skip(in) {
			continue
		}
		r.read[in]++
		h[in] = v
		if r.down[in] {
			h[in] = Unreachable
		}
	}
	return h, nil
}

// CatchUp applies steps as rollout.Canary.CatchUp does, on the fake
// versions: an instance in drift fails the pre-flight of the first step it
// lacks and is not touched; one in down is unreachable.
func (r *fakeRoller) CatchUp(_ context.Context, in string, steps []rollout.CatchUpStep) (*rollout.CatchUpResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &rollout.CatchUpResult{Instance: in}
	for _, s := range steps {
		v := s.Plan.Version
		fail := func(check string, err error) error {
			return &rollout.CatchUpError{Instance: in, Version: v, Check: check, Err: err}
		}
		switch {
		case r.down[in]:
			return res, fail(rollout.PreflightUnreachable, errors.New("connection refused"))
		case r.versions[in] >= v:
			res.Held++
		case r.versions[in] != s.From:
			return res, fail(rollout.PreflightVersion, fmt.Errorf("at version %d, the canary was at %d", r.versions[in], s.From))
		case r.drift[in]:
			return res, fail(rollout.PreflightDrift, &rollout.PreflightError{Instance: in, Check: rollout.PreflightDrift, Detail: "schema drift: public.t: column extra"})
		default:
			r.versions[in] = v
			r.applies[fmt.Sprintf("%s/%d", in, v)]++
			r.caught = append(r.caught, fmt.Sprintf("%s/%d", in, v))
			res.Applied = append(res.Applied, &rollout.StepResult{Instance: in, Version: v, Direction: "up"})
		}
		res.Version = v
	}
	return res, nil
}

// join adds instance in to the last wave at version v.
func (r *fakeRoller) join(in string, v int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waves[len(r.waves)-1] = append(r.waves[len(r.waves)-1], in)
	r.versions[in] = v
}

func (r *fakeRoller) result(ch *rollout.Plan, st rollout.Status, reason string, d *judge.Decision) *rollout.Result {
	res := &rollout.Result{Version: ch.Version, Status: st, Reason: reason, Decision: d}
	for wi, w := range r.waves {
		for _, in := range w {
			res.Instances = append(res.Instances, rollout.InstanceResult{Name: in, Wave: wi, Applied: r.versions[in] >= ch.Version,
				Apply: &rollout.StepResult{}})
		}
	}
	res.Samples = []judge.Sample{{Instance: r.waves[0][0], KPI: "latency:hot", Value: 3}}
	return res
}

func (r *fakeRoller) apply(wave int, ch *rollout.Plan) error {
	for _, in := range r.waves[wave] {
		if r.down[in] {
			return fmt.Errorf("instance %s: connection refused", in)
		}
		if r.versions[in] < ch.Version {
			r.versions[in] = ch.Version
			r.applies[fmt.Sprintf("%s/%d", in, ch.Version)]++
		}
	}
	return nil
}

func (r *fakeRoller) rollback(ch *rollout.Plan) error {
	var errs []error
	for in, v := range r.versions {
		if r.down[in] {
			errs = append(errs, fmt.Errorf("instance %s: connection refused", in))
			continue
		}
		if v >= ch.Version {
			r.versions[in] = ch.Version - 1
			r.rolled[ch.Version] = true
		}
	}
	return errors.Join(errs...)
}

func (r *fakeRoller) Run(ctx context.Context, ch *rollout.Plan, resume *rollout.Checkpoint, save func(rollout.Checkpoint), _ rollout.Repredictor, _ rollout.Controls) (*rollout.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := rollout.Checkpoint{Version: ch.Version, Phase: rollout.PhaseCanary}
	if resume != nil {
		cp = *resume
	}
	phase := func(c rollout.Checkpoint) error {
		save(c)
		if r.block != nil {
			r.mu.Unlock()
			r.block(c)
			r.mu.Lock()
		}
		return ctx.Err()
	}
	var d *judge.Decision
	if cp.Phase == rollout.PhaseCanary || cp.Phase == rollout.PhaseBaseline {
		if strings.Contains(ch.Name, "broken") {
			d = &judge.Decision{Outcome: judge.Fail, Guard: "migration", Reason: "migration error: syntax error"}
			cp = rollout.Checkpoint{Version: ch.Version, Phase: rollout.PhaseRollback, Reason: d.Reason}
		} else {
			if err := r.apply(0, ch); err != nil {
				_ = r.rollback(ch)
				return r.result(ch, rollout.StatusAborted, "canary apply failed", nil), err
			}
			cp = rollout.Checkpoint{Version: ch.Version, Phase: rollout.PhaseBake}
		}
		if err := phase(cp); err != nil {
			return nil, err
		}
	}
	if cp.Phase == rollout.PhaseBake {
		out := judge.Pass
		switch {
		case strings.Contains(ch.Name, "harmful"):
			out = judge.Fail
		case strings.Contains(ch.Name, "idle"): // no traffic: never enough data
			out = judge.Extend
		}
		v := judge.Verdict{KPI: "latency:hot", Reference: judge.RefControl, Outcome: out, PValue: 0.001, RelEffect: 6, Reason: "p99 600× slower"}
		d = &judge.Decision{Outcome: out, Reason: "latency:hot " + out.String(), Verdicts: []judge.Verdict{v}}
		cp = rollout.Checkpoint{Version: ch.Version, Phase: rollout.PhasePromote, Wave: 1}
		switch out {
		case judge.Fail:
			cp = rollout.Checkpoint{Version: ch.Version, Phase: rollout.PhaseRollback, Reason: d.Reason}
		case judge.Extend:
			d.Reason = "not enough data after max_bake 30m0s: no canary samples"
			cp = rollout.Checkpoint{Version: ch.Version, Phase: rollout.PhaseInconclusive, Reason: d.Reason}
		}
		if err := phase(cp); err != nil {
			return nil, err
		}
	}
	if cp.Phase == rollout.PhaseInconclusive {
		return r.result(ch, rollout.StatusInconclusive, cp.Reason, d), nil
	}
	if cp.Phase == rollout.PhaseRollback {
		if err := r.rollback(ch); err != nil {
			return r.result(ch, rollout.StatusFailed, "rollback failed", d), &rollout.PartialError{Version: ch.Version, Op: "rollback", Instances: r.states(ch.Version), Err: err}
		}
		return r.result(ch, rollout.StatusRolledBack, cp.Reason, d), nil
	}
	if cp.Phase == rollout.PhasePromote {
		for k := max(cp.Wave, 1); k < len(r.waves); k++ {
			if k != cp.Wave {
				if err := phase(rollout.Checkpoint{Version: ch.Version, Phase: rollout.PhasePromote, Wave: k}); err != nil {
					return nil, err
				}
			}
			for _, in := range r.waves[k] {
				if r.down[in] { // the pre-flight cannot reach it: the wave is paused, untouched
					pfe := &rollout.PreflightError{Instance: in, Check: rollout.PreflightUnreachable, Detail: "connection refused"}
					return r.result(ch, rollout.StatusPaused, fmt.Sprintf("wave %d paused before its apply: %s unreachable", k, in), d),
						&rollout.PartialError{Version: ch.Version, Op: "pre-flight", Instances: r.states(ch.Version), Err: pfe}
				}
			}
			if err := r.apply(k, ch); err != nil {
				return r.result(ch, rollout.StatusFailed, "wave failed", d), &rollout.PartialError{Version: ch.Version, Op: "rollout", Instances: r.states(ch.Version), Err: err}
			}
			if strings.Contains(ch.Name, "tenantharm") { // harmful on wave 1's tenant only (on_wave_failure: pause)
				wd := judge.Decision{Outcome: judge.Fail, Reason: "latency:hot fail", Verdicts: []judge.Verdict{{KPI: "latency:hot", Reference: judge.RefControl, Outcome: judge.Fail, PValue: 0.001, RelEffect: 40}}}
				reason := "wave 1 (wave1) failed its judgement: latency:hot fail (on_wave_failure: pause: every instance is left as it is for a human)"
				res := r.result(ch, rollout.StatusFailed, reason, &wd)
				res.Waves = []rollout.WaveDecision{{Wave: 1, Name: "wave1", Decision: wd}}
				return res, &rollout.PartialError{Version: ch.Version, Op: "wave judgement", Instances: r.states(ch.Version), Err: errors.New(reason)}
			}
		}
	}
	if cp.Phase == rollout.PhasePromote || cp.Phase == rollout.PhaseWatch {
		// The production watch after the last wave.
		if err := phase(rollout.Checkpoint{Version: ch.Version, Phase: rollout.PhaseWatch, BakeFrom: time.Now()}); err != nil {
			return nil, err
		}
		if strings.Contains(ch.Name, "lateharm") { // harmful once every wave passed (on_wave_failure: rollback_all)
			wd := judge.Decision{Outcome: judge.Fail, Reason: "latency:hot fail"}
			if err := phase(rollout.Checkpoint{Version: ch.Version, Phase: rollout.PhaseRollback, Reason: "the production watch failed its judgement: latency:hot fail"}); err != nil {
				return nil, err
			}
			if err := r.rollback(ch); err != nil {
				return nil, err
			}
			res := r.result(ch, rollout.StatusRolledBack, "the production watch failed its judgement: latency:hot fail", &wd)
			res.Watch = &wd
			return res, nil
		}
	}
	save(rollout.Checkpoint{Version: ch.Version, Phase: rollout.PhaseDone})
	return r.result(ch, rollout.StatusPromoted, "promoted", d), nil
}

// fakeForge records comments, reverts and approvals.
type fakeForge struct {
	mu        sync.Mutex
	sticky    map[int]string
	comments  map[string]string // "version/key" → body
	reverts   map[int64]bool
	merged    map[int64]bool
	approvals map[int64][]forge.Approval
}

func newFakeForge() *fakeForge {
	return &fakeForge{sticky: map[int]string{}, comments: map[string]string{}, reverts: map[int64]bool{}, merged: map[int64]bool{}, approvals: map[int64][]forge.Approval{}}
}

func (f *fakeForge) UpsertPrediction(_ context.Context, ref forge.ChangeRef, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sticky[ref.PR] = body
	return nil
}

func (f *fakeForge) Comment(_ context.Context, ref forge.ChangeRef, key, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fmt.Sprintf("%d/%s", ref.Version, key)
	if _, ok := f.comments[k]; !ok {
		f.comments[k] = body
	}
	return nil
}

func (f *fakeForge) OpenRevert(_ context.Context, req forge.RevertRequest) (*forge.Revert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reverts[req.Change.Version] = true
	return &forge.Revert{Branch: forge.RevertBranch(req.Change.Version), PR: 100 + int(req.Change.Version)}, nil
}

func (f *fakeForge) RevertMerged(_ context.Context, ref forge.ChangeRef) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.merged[ref.Version], nil
}

func (f *fakeForge) Approvals(_ context.Context, ref forge.ChangeRef) ([]forge.Approval, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]forge.Approval(nil), f.approvals[ref.Version]...), nil
}

var _ Forge = (*fakeForge)(nil)

// fakeAudit records transitions per version, idempotent like gitsrc.Audit.
type fakeAudit struct {
	mu  sync.Mutex
	trs map[int64][]audit.Transition
	rec map[int64]audit.ChangeRecord
}

func newFakeAudit() *fakeAudit {
	return &fakeAudit{trs: map[int64][]audit.Transition{}, rec: map[int64]audit.ChangeRecord{}}
}

func (a *fakeAudit) Record(_ context.Context, rec audit.ChangeRecord, tr audit.Transition) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.trs[tr.Version]
	if n := len(prev); n > 0 && prev[n-1].ID() == tr.ID() {
		return false, nil
	}
	a.trs[tr.Version] = append(prev, tr)
	a.rec[tr.Version] = rec
	return true, nil
}

// states returns the "to" states recorded for version, in order.
func (a *fakeAudit) states(v int64) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, t := range a.trs[v] {
		out = append(out, t.To)
	}
	return out
}

var _ Audit = (*fakeAudit)(nil)
