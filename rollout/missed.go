package rollout

import (
	"context"
	"math"
)

// Missed returns the instances of fleet that a Run resumed from cp would
// leave without the change: they are planned in a wave whose apply cp is
// already past (they joined the fleet, or moved at a wave's edge, after
// that wave was applied) and their goose table does not hold cp's
// version. An instance whose goose table cannot be read is not listed
// (the pre-flight and Holdings report those). A nil cp, or one before the
// canary's apply, misses nothing.
func (c *Canary) Missed(ctx context.Context, fleet *Fleet, cp *Checkpoint) ([]Instance, error) {
	if cp == nil {
		return nil, nil
	}
	done := appliedWaves(*cp)
	if done == 0 {
		return nil, nil
	}
	waves, _, err := fleet.Plan()
	if err != nil {
		return nil, err
	}
	var past []Instance
	for _, w := range waves[:min(done, len(waves))] {
		past = append(past, w.Instances...)
	}
	var out []Instance
	for i, s := range c.states(ctx, past, cp.Version, fleet.cfg.Concurrency) {
		if s.Err == nil && !s.Applied {
			out = append(out, past[i])
		}
	}
	return out, nil
}

// appliedWaves is how many waves, from the canary's, a run at cp has
// applied.
func appliedWaves(cp Checkpoint) int {
	switch cp.Phase {
	case PhaseBake, PhaseInconclusive:
		return 1
	case PhasePromote:
		if cp.BakeFrom.IsZero() {
			return max(cp.Wave, 1)
		}
		return cp.Wave + 1
	case PhaseWatch, PhaseDone:
		return math.MaxInt
	}
	return 0
}
