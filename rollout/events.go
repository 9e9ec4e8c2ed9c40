package rollout

import (
	"context"
	"log/slog"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"
)

// Step names a step of a rollout in events, logs and the control store.
type Step string

// Steps of a rollout, in the order they usually happen.
const (
	StepPlan      Step = "plan"        // waves and control chosen
	StepBaseline  Step = "baseline"    // KPIs sampled on the canary before the change
	StepPreflight Step = "preflight"   // a wave's targets checked before its apply (version, drift, data)
	StepWaitLocks Step = "wait_locks"  // waiting, without queueing, for long conflicting transactions
	StepApply     Step = "apply"       // one attempt of the Up section under lock_timeout
	StepApplied   Step = "applied"     // the Up section committed (or was already applied)
	StepBake      Step = "bake"        // one KPI sampling interval on canary and control
	StepJudge     Step = "judge"       // a judge decision over the samples so far
	StepPromote   Step = "promote"     // the next wave starts
	StepProgress  Step = "progress"    // how far a wave's apply has got (done/total, failures, ETA)
	StepWatch     Step = "watch"       // production watched after the last wave
	StepFence     Step = "fence"       // writes fenced off for the rollback
	StepArchive   Step = "archive"     // data the Down drops copied into schemacanary_archive
	StepDown      Step = "down"        // the Down section ran and the goose version row went
	StepReset     Step = "reset"       // sessions reset (terminated or operator command)
	StepUnfence   Step = "unfence"     // the fence lifted
	StepRollback  Step = "rolled_back" // a rollback finished on one instance
	StepCleanup   Step = "cleanup"     // an INVALID index left by a failed CONCURRENTLY build dropped
	StepDone      Step = "done"        // the rollout ended (promoted or rolled back)
)

// Event is one progress report. Wave is the wave index (0 = canary, -1 =
// outside any wave, e.g. a single Apply call).
type Event struct {
	Time     time.Time
	Version  int64
	Instance string
	Wave     int
	WaveName string
	Step     Step
	// Attempt counts the tries of this step (1-based; 0 when not retried).
	Attempt int
	// Duration of the step (or of the wait so far).
	Duration time.Duration
	// Message says what happened in words (no secrets).
	Message string
	// Decision is set on StepJudge events.
	Decision *judge.Decision
	// Err is set when the step failed.
	Err error
}

// LogAttrs renders the event as slog attributes.
func (e Event) LogAttrs() []slog.Attr {
	attrs := []slog.Attr{
		slog.Int64("change", e.Version),
		slog.String("step", string(e.Step)),
	}
	if e.Instance != "" {
		attrs = append(attrs, slog.String("instance", e.Instance))
	}
	if e.Wave >= 0 {
		attrs = append(attrs, slog.Int("wave", e.Wave), slog.String("wave_name", e.WaveName))
	}
	if e.Attempt > 0 {
		attrs = append(attrs, slog.Int("attempt", e.Attempt))
	}
	if e.Duration > 0 {
		attrs = append(attrs, slog.Duration("duration", e.Duration))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	return attrs
}

// Observer receives progress events. It is called from several goroutines
// at once and must not block for long.
type Observer func(Event)

type waveKey struct{}

type waveInfo struct {
	index int
	name  string
}

// withWave tags ctx with the wave an instance step belongs to.
func withWave(ctx context.Context, index int, name string) context.Context {
	return context.WithValue(ctx, waveKey{}, waveInfo{index, name})
}

func waveOf(ctx context.Context) waveInfo {
	if w, ok := ctx.Value(waveKey{}).(waveInfo); ok {
		return w
	}
	return waveInfo{index: -1}
}

// emitter sends events to an observer and the log.
type emitter struct {
	log     *slog.Logger
	observe Observer
}

func (em emitter) emit(ctx context.Context, e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Wave == 0 && e.WaveName == "" {
		w := waveOf(ctx)
		e.Wave, e.WaveName = w.index, w.name
	}
	lvl := slog.LevelDebug
	switch {
	case e.Err != nil:
		lvl = slog.LevelWarn
	case e.Step != StepBake && e.Step != StepWaitLocks && e.Step != StepApply:
		lvl = slog.LevelInfo
	}
	if em.log != nil {
		em.log.LogAttrs(ctx, lvl, e.Message, e.LogAttrs()...)
	}
	if em.observe != nil {
		em.observe(e)
	}
}
