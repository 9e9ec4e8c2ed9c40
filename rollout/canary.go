package rollout

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"
	"github.com/schemacanary/schemacanary/rollout/kpi"
)

// Status is how a rollout ended.
type Status string

const (
	// StatusPromoted: every wave holds the change.
	StatusPromoted Status = "promoted"
	// StatusRolledBack: the judge failed the canary (or a hard guard
	// tripped) and the canary wave was rolled back.
	StatusRolledBack Status = "rolled_back"
	// StatusAborted: the change could not get its locks (ErrLockTimeout)
	// on the canary; whatever of the canary wave got it was rolled back.
	StatusAborted Status = "aborted"
	// StatusFailed: the rollout stopped part way and needs a human; the
	// error is a *PartialError listing which instance holds the version.
	StatusFailed Status = "failed"
	// StatusInconclusive: the bake reached max_bake without enough data to
	// judge (CanaryConfig.OnInconclusive hold); the canary wave holds the
	// change and the rest of the fleet does not, until a human promotes it
	// (Run again from a PhasePromote checkpoint) or rolls it back.
	StatusInconclusive Status = "inconclusive"
	// StatusPaused: a target of the next wave could not be reached in its
	// pre-flight; nothing of that wave was applied. Run again from the
	// same checkpoint to go on once it is back.
	StatusPaused Status = "paused"
)

// Repredictor re-scores the change being baked from the judge's latest
// decision (the live re-prediction). The reconciler supplies one per run
// (Repredicting) from the change's stored assessment.
type Repredictor func(ctx context.Context, d judge.Decision) (Reprediction, error)

// Reprediction is a live re-prediction of a change during its bake.
type Reprediction struct {
	// Confidence is the probability that the change is safe, given what
	// the bake has shown so far.
	Confidence float64 `json:"confidence"`
	// Prior is the confidence the change had before the bake.
	Prior float64 `json:"prior"`
	// Why says in plain words what moved it.
	Why string `json:"why,omitempty"`
}

// Predicts reports whether the re-prediction calls for a rollback at
// threshold below: its confidence is under below, and the bake's evidence
// (not the prior alone) took it there. A change a human approved at a low
// confidence is not rolled back for its prior.
func (p Reprediction) Predicts(below float64) bool {
	return below > 0 && p.Confidence < below && p.Confidence < p.Prior
}

// WithSources sets the KPI sources sampled on canary and control.
func WithSources(sources ...kpi.KPISource) Option {
	return func(o *options) error {
		for _, s := range sources {
			if s == nil {
				return errors.New("rollout: WithSources: nil source")
			}
		}
		o.sources = append(o.sources, sources...)
		return nil
	}
}

// Phase is where a rollout stands.
type Phase string

// Phases of a rollout.
const (
	PhaseBaseline Phase = "baseline"
	PhaseCanary   Phase = "canary" // applying to the canary wave
	PhaseBake     Phase = "bake"
	PhasePromote  Phase = "promote"
	// PhaseWatch: every wave passed; production is watched for
	// canary.watch against the pre-change baselines.
	PhaseWatch    Phase = "watch"
	PhaseRollback Phase = "rollback"
	PhaseDone     Phase = "done"
	// PhaseInconclusive: the bake ended without enough data and the change
	// is held on the canary wave (CanaryConfig.OnInconclusive hold); a Run
	// resumed from it ends at once with StatusInconclusive.
	PhaseInconclusive Phase = "inconclusive"
)

// Checkpoint is the resumable state of a rollout. The goose tables remain
// the truth about what is applied; the checkpoint only says which phase
// and wave the rollout was in and since when it has been baking.
type Checkpoint struct {
	Version  int64     `json:"version"`
	Phase    Phase     `json:"phase"`
	Wave     int       `json:"wave"`
	BakeFrom time.Time `json:"bake_from,omitzero"`
	// Reason is why a rollback started (PhaseRollback).
	Reason string `json:"reason,omitempty"`
	// Baseline is the KPIs sampled before the change (canary and control),
	// kept so that a bake resumed after a crash still compares with them.
	Baseline []judge.Sample `json:"baseline,omitempty"`
	// Schema is the definition of the tables the change touches, read on
	// the canary before the change: every later target's pre-flight
	// compares its own with it (nil: read before this was kept; drift is
	// then not checked).
	Schema SchemaPrint `json:"schema,omitempty"`
	// Progress is how far the apply of wave Wave has got (nil outside an
	// apply).
	Progress *WaveProgress `json:"progress,omitempty"`
}

// InstanceResult is one instance's part in a rollout.
type InstanceResult struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	Wave  int    `json:"wave"`
	// Control is true for the control instances (never changed during the bake).
	Control bool `json:"control,omitempty"`
	// Applied says whether the goose table holds the version at the end.
	Applied  bool            `json:"applied"`
	Apply    *StepResult     `json:"apply,omitempty"`
	Rollback *RollbackResult `json:"rollback,omitempty"`
	Error    string          `json:"error,omitempty"`
	// Excluded says who excluded the instance, and why, when the run
	// skipped it for an operator's exclusion (see Controls): it was never
	// touched.
	Excluded string `json:"excluded,omitempty"`
	// CatchUp is set on an instance that joined a wave this run had
	// already applied (see Canary.Missed): "caught up" when the run
	// brought it up to the change before going on (Apply says how), else
	// "not caught up: " and why (it then lacks the change).
	CatchUp string `json:"catch_up,omitempty"`
}

// WaveDecision is the judge's decision on one wave after the canary.
type WaveDecision struct {
	Wave     int            `json:"wave"`
	Name     string         `json:"name"`
	Decision judge.Decision `json:"decision"`
}

// Result is what a rollout did, for the CLI, the control store and the
// audit log.
type Result struct {
	Version int64  `json:"version"`
	Status  Status `json:"status"`
	Reason  string `json:"reason"`
	// Decision is the judge's last decision (nil if it never judged).
	Decision *judge.Decision `json:"decision,omitempty"`
	// Judgements counts the judged intervals.
	Judgements int `json:"judgements"`
	// Waves are the judgements of the waves after the canary, in order.
	Waves []WaveDecision `json:"waves,omitempty"`
	// Watch is the judgement of the production watch after the last wave
	// (nil when there was none).
	Watch *judge.Decision `json:"watch,omitempty"`
	// Instances in wave order.
	Instances []InstanceResult `json:"instances"`
	// Samples are the KPI samples of the bake (canary and control) and of
	// the baseline, for charts.
	Samples  []judge.Sample `json:"samples,omitempty"`
	Baseline []judge.Sample `json:"baseline,omitempty"`
	// Started, CanaryApplied, Decided, Finished time the rollout.
	Started       time.Time `json:"started"`
	CanaryApplied time.Time `json:"canary_applied,omitzero"`
	Decided       time.Time `json:"decided,omitzero"`
	Finished      time.Time `json:"finished"`
	// TimeToRollback is from the canary's apply to the rollback complete.
	TimeToRollback time.Duration `json:"time_to_rollback,omitempty"`
}

// RolledBack reports whether the canary was rolled back.
func (r *Result) RolledBack() bool { return r.Status == StatusRolledBack || r.Status == StatusAborted }

// Canary runs rollouts: baseline, canary wave, bake with the judge,
// rollback or promotion wave by wave. It is safe for concurrent use by
// rollouts of different changes on different fleets.
type Canary struct {
	cfg        CanaryConfig
	rbCfg      RollbackConfig
	applier    *Applier
	rollbacker *Rollbacker
	sources    []kpi.KPISource
	judge      *judge.Judge
	em         emitter
	// dataChecker answers the plan's data checks in pre-flight (nil: none).
	dataChecker DataChecker
}

// ErrNoSources is returned by NewCanary without any KPI source.
var ErrNoSources = errors.New("rollout: no KPI source: nothing to judge the canary by")

// NewCanary validates the configs and returns a Canary. WithSources is
// required.
func NewCanary(canary CanaryConfig, rollback RollbackConfig, opts ...Option) (*Canary, error) {
	canary.SetDefaults()
	rollback.SetDefaults()
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if len(o.sources) == 0 {
		return nil, ErrNoSources
	}
	a, err := NewApplier(canary, opts...)
	if err != nil {
		return nil, err
	}
	rb, err := NewRollbacker(rollback, canary, opts...)
	if err != nil {
		return nil, err
	}
	j := o.judge
	if j == nil {
		if j, err = judge.NewJudge(canary.Judge); err != nil {
			return nil, err
		}
	}
	return &Canary{cfg: canary, rbCfg: rollback, applier: a, rollbacker: rb, sources: o.sources, judge: j, em: a.em, dataChecker: o.dataChecker}, nil
}

// Close releases the sessions the canary keeps for read-only look-ups
// (see readers.go); its KPI sources are the caller's to close.
func (c *Canary) Close() {
	c.applier.Close()
	c.rollbacker.applier.Close()
}

// Applier returns the canary's applier (same settings).
func (c *Canary) Applier() *Applier { return c.applier }

// Rollbacker returns the canary's rollbacker (same settings).
func (c *Canary) Rollbacker() *Rollbacker { return c.rollbacker }

// forEach runs fn over instances with at most limit at once and returns
// the errors by instance name.
func forEach(ctx context.Context, instances []Instance, limit int, fn func(context.Context, Instance) error) map[string]error {
	if limit <= 0 {
		limit = 1
	}
	var mu sync.Mutex
	errs := map[string]error{}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, in); err != nil {
				mu.Lock()
				errs[in.Name] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// warm opens the sources' connections to targets ahead of the first
// window (sources implementing Warmer), so no window is lost to a slow
// connect.
func (c *Canary) warm(ctx context.Context, targets []Instance) {
	var wg sync.WaitGroup
	for _, src := range c.sources {
		w, ok := src.(kpi.Warmer)
		if !ok {
			continue
		}
		for _, in := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w.Warm(ctx, in.Target()); err != nil {
					c.em.emit(ctx, Event{Instance: in.Name, Wave: -1, Step: StepPlan, Err: err, Message: "KPI source " + src.Name() + " cannot reach the instance"})
				}
			}()
		}
	}
	wg.Wait()
}

// collect samples every source on every target over [from, to).
func (c *Canary) collect(ctx context.Context, targets []Instance, from, to time.Time) []judge.Sample {
	var mu sync.Mutex
	var out []judge.Sample
	var wg sync.WaitGroup
	for _, src := range c.sources {
		for _, in := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := src.Collect(ctx, in.Target(), from, to)
				if err != nil && !errors.Is(err, kpi.ErrWindowLost) && ctx.Err() == nil {
					c.em.emit(ctx, Event{Instance: in.Name, Step: StepBake, Err: err, Message: "KPI source " + src.Name() + " failed"})
				}
				mu.Lock()
				out = append(out, s...)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return out
}

func split(samples []judge.Sample, names map[string]bool) (in, out []judge.Sample) {
	for _, s := range samples {
		if names[s.Instance] {
			in = append(in, s)
		} else {
			out = append(out, s)
		}
	}
	return in, out
}

// states reads which instances hold the version.
func (c *Canary) states(ctx context.Context, instances []Instance, version int64, limit int) []InstanceVersion {
	out := make([]InstanceVersion, len(instances))
	idx := map[string]int{}
	for i, in := range instances {
		idx[in.Name] = i
		out[i].Instance = in.Name
	}
	var mu sync.Mutex
	forEach(ctx, instances, limit, func(ctx context.Context, in Instance) error {
		ok, err := c.applier.Applied(ctx, in, version)
		mu.Lock()
		out[idx[in.Name]].Applied, out[idx[in.Name]].Err = ok, err
		mu.Unlock()
		return nil
	})
	return out
}

// sortedNames lists names for messages.
func sortedNames(m map[string]error) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
