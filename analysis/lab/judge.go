package lab

import "context"

// Window is what the load generator saw before and after a migration
// started. Latencies are in milliseconds, keyed by query class (the load's
// statement names); every sample is one execution, measured from its
// scheduled start (open loop), so a stalled table shows as huge latencies.
type Window struct {
	// Baseline holds the latencies of executions scheduled in the window
	// before the migration; Canary those scheduled from the moment the
	// applier stopped waiting for long transactions (it requests no lock
	// while it waits) until a short settle time after it returned.
	Baseline map[string][]float64
	Canary   map[string][]float64
	// Calls and Errors count executions (errors: failed statements, e.g. a
	// dropped column or a statement timeout) in each window; the Class
	// maps count errors per query class.
	BaselineCalls, BaselineErrors          int
	CanaryCalls, CanaryErrors              int
	BaselineClassErrors, CanaryClassErrors map[string]int
	// BaselineLockWaits and CanaryLockWaits sample the number of sessions
	// waiting for a lock, every LockWaitInterval.
	BaselineLockWaits, CanaryLockWaits []float64
	// BaselineStart, BaselineEnd (the apply's start), CanaryStart and
	// CanaryEnd bound the windows (Unix ms).
	BaselineStart, BaselineEnd, CanaryStart, CanaryEnd int64
}

// Verdict is a judge's answer for one window.
type Verdict struct {
	// Safe is false when the judge would roll the change back.
	Safe bool `json:"safe"`
	// Reason says why, in the judge's words.
	Reason string `json:"reason"`
}

// Judge decides from the load's KPIs whether a change harmed the traffic.
// A migration that errors is unsafe without asking the judge; one still
// running at the apply timeout is judged on the traffic meanwhile.
// Implementations must be safe for concurrent use.
type Judge interface {
	Judge(ctx context.Context, w Window) (Verdict, error)
}

// JudgeFunc adapts a function to Judge.
type JudgeFunc func(ctx context.Context, w Window) (Verdict, error)

// Judge calls f.
func (f JudgeFunc) Judge(ctx context.Context, w Window) (Verdict, error) { return f(ctx, w) }

var _ Judge = JudgeFunc(nil)
