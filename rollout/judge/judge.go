package judge

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// Outcome is what the judge decides for a KPI or a whole canary.
type Outcome int

const (
	// Extend: not enough evidence yet; keep baking. The zero value, so an
	// unset outcome never passes.
	Extend Outcome = iota
	// Pass: no KPI is significantly worse on the canary beyond its tolerance.
	Pass
	// Fail: the canary is worse (or a hard guard tripped); roll back.
	Fail
)

// String returns "extend", "pass" or "fail".
func (o Outcome) String() string {
	switch o {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	default:
		return "extend"
	}
}

// MarshalText renders the outcome as its String.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText parses "extend", "pass" or "fail".
func (o *Outcome) UnmarshalText(b []byte) error {
	switch string(b) {
	case "extend":
		*o = Extend
	case "pass":
		*o = Pass
	case "fail":
		*o = Fail
	default:
		return fmt.Errorf("outcome %q: want extend, pass or fail", b)
	}
	return nil
}

// Reference names what the canary is compared with.
const (
	// RefControl is the control instances over the same bake window.
	RefControl = "control"
	// RefBaseline is the canary's own samples from before the change.
	RefBaseline = "baseline"
	// RefGuard marks a hard-guard verdict (no comparison).
	RefGuard = "guard"
)

// Test names the statistical test behind a verdict.
const (
	TestMannWhitney = "mann-whitney-u"
	TestTwoProp     = "two-proportion-z"
	TestFisher      = "fisher-exact"
	// TestTail is the tail test: the share of latency samples above the
	// tail threshold (the baseline's p99, or the SLO), canary against the
	// reference, by Fisher's exact test.
	TestTail  = "fisher-exact-tail"
	TestGuard = "hard-guard"
	TestNone  = "none"
)

// Verdict is the judgement of one KPI against one reference.
type Verdict struct {
	// KPI is the sample KPI name ("latency:hot", "error_rate", ...).
	KPI string `json:"kpi"`
	// Reference is RefControl, RefBaseline or RefGuard.
	Reference string `json:"reference"`
	// Outcome of this comparison.
	Outcome Outcome `json:"outcome"`
	// Test is the statistical test used (Test* constants).
	Test string `json:"test"`
	// PValue of the one-sided test "canary is worse"; 1 when no test ran.
	PValue float64 `json:"p_value"`
	// Effect is the size of the difference canary - reference: the
	// Hodges-Lehmann shift for continuous KPIs (KPI units), the difference
	// of rates for proportions.
	Effect float64 `json:"effect"`
	// RelEffect is Effect relative to the reference median (continuous
	// KPIs; +Inf when that median is 0 and Effect > 0), or equal to Effect
	// for proportions.
	RelEffect float64 `json:"rel_effect"`
	// Tolerance is the effect-size floor that applied (relative for
	// continuous KPIs, absolute difference of rates for proportions).
	Tolerance float64 `json:"tolerance"`
	// CanaryN and ReferenceN are the sample counts compared (for
	// proportions: the events, i.e. summed Sample.Count).
	CanaryN    int `json:"canary_n"`
	ReferenceN int `json:"reference_n"`
	// CanaryValue and ReferenceValue are the medians (continuous) or rates
	// (proportions) of each side.
	CanaryValue    float64 `json:"canary_value"`
	ReferenceValue float64 `json:"reference_value"`
	// Reason says in words why.
	Reason string `json:"reason"`
}

// String renders the verdict on one line for logs and the CLI.
func (v Verdict) String() string {
	return fmt.Sprintf("%s vs %s: %s (%s p=%.4g effect=%+.4g rel=%+.1f%% tol=%.3g n=%d/%d) %s",
		v.KPI, v.Reference, v.Outcome, v.Test, v.PValue, v.Effect, 100*v.RelEffect, v.Tolerance, v.CanaryN, v.ReferenceN, v.Reason)
}

// Decision is the judge's overall answer for one canary at one moment.
type Decision struct {
	// Outcome is Fail if any KPI fails (or a guard trips), Extend if any
	// KPI lacks data and none fails, Pass otherwise.
	Outcome Outcome `json:"outcome"`
	// Reason summarizes the decision in one line.
	Reason string `json:"reason"`
	// Guard names the hard guard that failed ("" if none).
	Guard string `json:"guard,omitempty"`
	// Verdicts holds every KPI comparison, sorted by KPI then reference.
	Verdicts []Verdict `json:"verdicts"`
	// KPIs holds each KPI's outcome once its references and its tail test
	// are combined (a tripped guard fails its KPI).
	KPIs map[string]Outcome `json:"kpis,omitempty"`
	// At is when the decision was made.
	At time.Time `json:"at"`
}

// KPIVerdict returns the verdict that stands for kpi's outcome in d, to
// show one line per KPI: of the KPI's verdicts with that outcome, a guard
// first, then the whole-distribution comparison against the control,
// against the baseline, then the tail test's against each. A decision
// without recorded KPI outcomes (stored before they were) is read by the
// same order alone. ok is false when d has no verdict on kpi.
func (d Decision) KPIVerdict(kpi string) (v Verdict, ok bool) {
	want, known := d.KPIs[kpi]
	rank := func(v Verdict) int { // guard 0, whole vs control 1, vs baseline 2, tail 3 and 4
		if v.Reference == RefGuard {
			return 0
		}
		r := 1
		if v.Test == TestTail {
			r += 2
		}
		if v.Reference != RefControl {
			r++
		}
		return r
	}
	for _, c := range d.Verdicts {
		if c.KPI != kpi || (known && c.Outcome != want) {
			continue
		}
		if !ok || rank(c) < rank(v) {
			v, ok = c, true
		}
	}
	return v, ok
}

// Failed returns the verdicts whose outcome is Fail.
func (d Decision) Failed() []Verdict {
	var out []Verdict
	for _, v := range d.Verdicts {
		if v.Outcome == Fail {
			out = append(out, v)
		}
	}
	return out
}

// JudgeConfig tunes the judge. The zero value of every field means its
// default (see docs/judge.md for why each default is what it is).
type JudgeConfig struct {
	// Alpha is the significance level of the one-sided tests; default 0.01
	// (the judge looks many times during a bake).
	Alpha float64 `yaml:"alpha,omitempty" json:"alpha,omitempty"`
	// Tolerances are effect-size floors keyed by KPI name or by its prefix
	// before ':' ("latency" covers "latency:*"); the exact name wins. For
	// continuous KPIs the floor is relative to the reference median (0.2 =
	// the canary must be 20% worse); for proportions it is the absolute
	// difference of rates (0.01 = one percentage point). Defaults:
	// latency 0.2, cpu 0.5, memory 0.5, lock_waits 1.0, error_rate 0.01,
	// deadlocks 0.001, conflicts 0.001, any other KPI 0.2.
	Tolerances map[string]float64 `yaml:"tolerances,omitempty" json:"tolerances,omitempty"`
	// AbsFloors are absolute effect floors for continuous KPIs in KPI units
	// (keyed like Tolerances), so tiny absolute shifts of tiny values do
	// not fail; default latency 0.05 (ms), others 0.
	AbsFloors map[string]float64 `yaml:"abs_floors,omitempty" json:"abs_floors,omitempty"`
	// MinSamples is the fewest samples each side of a continuous comparison
	// needs; fewer extends the bake. Default 10.
	MinSamples int `yaml:"min_samples,omitempty" json:"min_samples,omitempty"`
	// MinEvents is the fewest events (summed Count) each side of a
	// proportion comparison needs; default 30.
	MinEvents int `yaml:"min_events,omitempty" json:"min_events,omitempty"`
	// Combine says how the control and baseline comparisons of one KPI
	// combine when both have data: "all" (default: fail only when the
	// canary is worse than both, so fleet-wide drift and pre-existing
	// differences between instances do not fail a change) or "any".
	Combine string `yaml:"combine,omitempty" json:"combine,omitempty"`
	// ErrorRateLimit is a hard guard: a canary error_rate above it over the
	// window fails at once, whatever the control does. Default 0.05; a
	// negative value disables it.
	ErrorRateLimit float64 `yaml:"error_rate_limit,omitempty" json:"error_rate_limit,omitempty"`
	// LockWaitLimit is a hard guard: a canary lock_waits sample above it
	// fails at once. Default 0 disables it.
	LockWaitLimit float64 `yaml:"lock_wait_limit,omitempty" json:"lock_wait_limit,omitempty"`
	// Ignore lists KPI names or prefixes the judge leaves out.
	Ignore []string `yaml:"ignore,omitempty" json:"ignore,omitempty"`
	// Tail tunes the tail test on latency KPIs.
	Tail TailConfig `yaml:"tail,omitempty" json:"tail,omitempty"`
}

// TailConfig tunes the tail test, which sees what a comparison of whole
// distributions misses: a few percent of one query class turned very slow.
// For each latency KPI it counts the samples above a threshold (the SLO
// when one is set, else the Quantile of the canary's own pre-change
// baseline) on the canary and on each reference, and fails the KPI when
// the canary's share is higher by more than Tolerance with Fisher's exact
// test below Alpha, against every reference with data (Combine "all").
type TailConfig struct {
	// Quantile of the baseline that sets the threshold; default 0.99.
	Quantile float64 `yaml:"quantile,omitempty" json:"quantile,omitempty"`
	// SLO are latency thresholds in milliseconds keyed like Tolerances
	// ("latency" for every class, "latency:orders_page" for one); a KPI
	// with an SLO needs no baseline quantile.
	SLO map[string]float64 `yaml:"slo,omitempty" json:"slo,omitempty"`
	// Tolerance is the floor on the difference of shares above the
	// threshold (0.01 = one percentage point); default 0.01. A negative
	// value turns the tail test off.
	Tolerance float64 `yaml:"tolerance,omitempty" json:"tolerance,omitempty"`
	// MinBaseline is the fewest baseline samples a quantile threshold
	// needs (a p99 of a few samples is the maximum); default 100. With
	// fewer and no SLO, the KPI gets no tail verdict.
	MinBaseline int `yaml:"min_baseline,omitempty" json:"min_baseline,omitempty"`
}

// defaultTolerances and defaultAbsFloors back JudgeConfig's zero values.
func defaultTolerances() map[string]float64 {
	return map[string]float64{
		"latency": 0.2, KPICPU: 0.5, KPIMemory: 0.5, KPILockWaits: 1.0,
		KPIErrorRate: 0.01, KPIDeadlocks: 0.001, KPIConflicts: 0.001,
	}
}

func defaultAbsFloors() map[string]float64 { return map[string]float64{"latency": 0.05} }

// Judge compares a canary's KPI samples with the control's and with the
// canary's own pre-change baseline (Kayenta's method). It is stateless and
// safe for concurrent use.
type Judge struct {
	cfg JudgeConfig
}

// NewJudge validates cfg, fills defaults and returns a Judge. It returns an
// error wrapping ErrBadConfig for out-of-range values.
func NewJudge(cfg JudgeConfig) (*Judge, error) {
	if cfg.Alpha == 0 {
		cfg.Alpha = 0.01
	}
	if cfg.Alpha <= 0 || cfg.Alpha >= 0.5 {
		return nil, fmt.Errorf("%w: judge alpha %g: must be in (0, 0.5)", ErrBadConfig, cfg.Alpha)
	}
	tol := defaultTolerances()
	for k, v := range cfg.Tolerances {
		if v < 0 || math.IsNaN(v) {
			return nil, fmt.Errorf("%w: judge tolerance %s=%g: must be >= 0", ErrBadConfig, k, v)
		}
		tol[k] = v
	}
	cfg.Tolerances = tol
	floors := defaultAbsFloors()
	for k, v := range cfg.AbsFloors {
		if v < 0 || math.IsNaN(v) {
			return nil, fmt.Errorf("%w: judge abs_floor %s=%g: must be >= 0", ErrBadConfig, k, v)
		}
		floors[k] = v
	}
	cfg.AbsFloors = floors
	if cfg.MinSamples == 0 {
		cfg.MinSamples = 10
	}
	if cfg.MinSamples < 3 {
		return nil, fmt.Errorf("%w: judge min_samples %d: must be >= 3", ErrBadConfig, cfg.MinSamples)
	}
	if cfg.MinEvents == 0 {
		cfg.MinEvents = 30
	}
	if cfg.MinEvents < 1 {
		return nil, fmt.Errorf("%w: judge min_events %d: must be >= 1", ErrBadConfig, cfg.MinEvents)
	}
	switch cfg.Combine {
	case "":
		cfg.Combine = "all"
	case "all", "any":
	default:
		return nil, fmt.Errorf("%w: judge combine %q: want all or any", ErrBadConfig, cfg.Combine)
	}
	if cfg.ErrorRateLimit == 0 {
		cfg.ErrorRateLimit = 0.05
	}
	if cfg.ErrorRateLimit > 1 {
		return nil, fmt.Errorf("%w: judge error_rate_limit %g: must be <= 1", ErrBadConfig, cfg.ErrorRateLimit)
	}
	if cfg.LockWaitLimit < 0 {
		return nil, fmt.Errorf("%w: judge lock_wait_limit %g: must be >= 0", ErrBadConfig, cfg.LockWaitLimit)
	}
	if err := cfg.Tail.setDefaults(); err != nil {
		return nil, err
	}
	return &Judge{cfg: cfg}, nil
}

// Config returns the effective configuration (defaults filled in).
func (j *Judge) Config() JudgeConfig { return j.cfg }

// kpiLookup finds a per-KPI value by exact name, then by prefix before ':'.
func kpiLookup(m map[string]float64, kpi string, def float64) float64 {
	if v, ok := m[kpi]; ok {
		return v
	}
	if i := strings.IndexByte(kpi, ':'); i > 0 {
		if v, ok := m[kpi[:i]]; ok {
			return v
		}
	}
	return def
}

func (j *Judge) ignored(kpi string) bool {
	for _, p := range j.cfg.Ignore {
		if kpi == p || strings.HasPrefix(kpi, p+":") {
			return true
		}
	}
	return false
}

// MigrationFailed is the hard guard for a migration that errored on the
// canary: an immediate Fail naming the error.
func (j *Judge) MigrationFailed(err error) Decision {
	reason := fmt.Sprintf("migration failed on canary: %v", err)
	return Decision{
		Outcome: Fail, Guard: "migration_error", Reason: reason, At: time.Now(),
		Verdicts: []Verdict{{KPI: "migration", Reference: RefGuard, Outcome: Fail, Test: TestGuard, PValue: 0, Reason: reason}},
	}
}

// JudgeAt is Judge at an interim look of a bake: frac is the share of the
// bake observed so far (>= 1 at the bake's end and beyond it, where it is
// Judge). A bake is judged after every interval on a growing sample, so a
// flat alpha at every look would let false alarms grow with the number of
// looks, and a disturbance of a second or two right after the apply (seen
// on the shared test machine: one instance's hot-row update 34% slower for
// two 500 ms intervals) would decide alone. An interim look therefore
// spends alpha as O'Brien and Fleming's group-sequential boundary does: a
// test must reach z >= z(alpha)/sqrt(frac), p < InterimAlpha(alpha, frac)
// (for alpha 0.01: 2.8e-5 at a third of the bake, 2.2e-3 at two thirds),
// and the bake's end has the whole alpha. A harm worth stopping early (a
// dropped index, latency 100x) clears the early boundary in its first
// samples; hard guards fail at once as ever.
func (j *Judge) JudgeAt(frac float64, canary, control, baseline []Sample) Decision {
	if frac >= 1 {
		return j.Judge(canary, control, baseline)
	}
	interim := *j
	interim.cfg.Alpha = InterimAlpha(j.cfg.Alpha, frac)
	return interim.Judge(canary, control, baseline)
}

// InterimAlpha is the one-sided significance level of a look at frac of a
// bake (O'Brien-Fleming boundary): 1 - Phi(z(1-alpha)/sqrt(frac)); alpha
// itself for frac >= 1. frac is taken as at least 0.01.
func InterimAlpha(alpha, frac float64) float64 {
	if frac >= 1 {
		return alpha
	}
	frac = math.Max(frac, 0.01)
	return distuv.UnitNormal.Survival(distuv.UnitNormal.Quantile(1-alpha) / math.Sqrt(frac))
}

// Judge decides over the samples of a bake window: canary holds the
// canary instances' samples since the change, control the control
// instances' samples over the same window, baseline the samples from
// before the change (either reference may be empty). Every KPI present in
// canary (and not ignored) gets a verdict per reference.
//
// baseline should hold the canary instances' own samples and, ideally, the
// control instances' samples over the same pre-change period (told apart
// by Sample.Instance: samples of instances present in canary are its
// own). With both, the baseline comparison of a continuous
// KPI is corrected for drift (a difference in differences): the canary's
// baseline is scaled by median(control now) / median(control before), so
// a machine or fleet that got busier or quieter during the bake neither
// fails nor hides a change.
//
// Hard guards come first and fail at once: a canary error_rate above
// ErrorRateLimit, a lock_waits sample above LockWaitLimit. Then each KPI
// is tested against each reference with data; with Combine "all" a KPI
// fails only when it is worse than every reference that has enough data.
// An empty reference (no control group, no baseline) is left out; a
// reference that has samples but none of this KPI extends it.
// Too few samples never pass: the KPI, and the decision, extend.
func (j *Judge) Judge(canary, control, baseline []Sample) Decision {
	d := Decision{At: time.Now(), KPIs: map[string]Outcome{}}
	if g, ok := j.guards(canary); ok {
		d.Outcome, d.Guard, d.Reason = Fail, g.KPI, g.Reason
		d.Verdicts = append(d.Verdicts, g)
		d.KPIs[g.KPI] = Fail
		return d
	}
	var failed, extended []string
	ownBaseline, controlBaseline := splitBaseline(baseline, canary)
	for _, kpi := range KPINames(canary) {
		if j.ignored(kpi) {
			continue
		}
		c := SelectKPI(canary, kpi)
		base, drift := j.driftCorrected(kpi, SelectKPI(ownBaseline, kpi), SelectKPI(control, kpi), SelectKPI(controlBaseline, kpi))
		var vs []Verdict
		for _, ref := range []struct {
			name     string
			all, kpi []Sample
		}{{RefControl, control, SelectKPI(control, kpi)}, {RefBaseline, ownBaseline, base}} {
			switch {
			case len(ref.all) == 0:
				// No such reference at all (a fleet without control, a
				// canary without baseline): the other one decides alone.
			case len(ref.kpi) == 0:
				// The reference exists but lacks this KPI (its source
				// failed, or had no data yet): never let the other one
				// decide alone, drift would pass for a regression.
				vs = append(vs, Verdict{KPI: kpi, Reference: ref.name, Outcome: Extend, Test: TestNone, PValue: 1,
					CanaryN: len(c), Reason: "no " + ref.name + " samples for this KPI"})
			default:
				v := j.compare(kpi, ref.name, c, ref.kpi)
				if ref.name == RefBaseline && drift != 1 {
					v.Reason += fmt.Sprintf(" [baseline scaled x%.3f for the drift seen on the control]", drift)
				}
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 {
			vs = append(vs, Verdict{KPI: kpi, Reference: RefControl, Outcome: Extend, Test: TestNone, PValue: 1,
				CanaryN: len(c), Reason: "no reference samples for this KPI"})
		}
		d.Verdicts = append(d.Verdicts, vs...)
		outcome := j.combine(vs)
		// The tail test can only add a failure: a tail that is not worse
		// never passes a KPI the whole-distribution test extends or fails.
		if ts := j.tailVerdicts(kpi, c, SelectKPI(control, kpi), base); len(ts) > 0 {
			d.Verdicts = append(d.Verdicts, ts...)
			if j.combine(ts) == Fail {
				outcome = Fail
			}
		}
		d.KPIs[kpi] = outcome
		switch outcome {
		case Fail:
			failed = append(failed, kpi)
		case Extend:
			extended = append(extended, kpi)
		}
	}
	sort.SliceStable(d.Verdicts, func(a, b int) bool { return d.Verdicts[a].KPI < d.Verdicts[b].KPI })
	switch {
	case len(failed) > 0:
		d.Outcome = Fail
		d.Reason = "canary worse on " + strings.Join(failed, ", ")
	case len(extended) > 0:
		d.Outcome = Extend
		d.Reason = "not enough data for " + strings.Join(extended, ", ")
	case len(d.Verdicts) == 0:
		d.Outcome = Extend
		d.Reason = "no canary samples"
	default:
		d.Outcome = Pass
		d.Reason = fmt.Sprintf("no KPI worse beyond tolerance (%d comparisons)", len(d.Verdicts))
	}
	return d
}

// combine merges one KPI's verdicts against its references.
func (j *Judge) combine(vs []Verdict) Outcome {
	var fails, passes, extends int
	for _, v := range vs {
		switch v.Outcome {
		case Fail:
			fails++
		case Pass:
			passes++
		default:
			extends++
		}
	}
	if j.cfg.Combine == "any" {
		switch {
		case fails > 0:
			return Fail
		case extends > 0:
			return Extend
		default:
			return Pass
		}
	}
	// "all": worse than every reference with data.
	switch {
	case passes > 0:
		return Pass
	case extends > 0:
		return Extend
	case fails > 0:
		return Fail
	}
	return Extend
}

// guards checks the hard limits on the canary samples.
func (j *Judge) guards(canary []Sample) (Verdict, bool) {
	if j.cfg.ErrorRateLimit > 0 {
		errs := SelectKPI(canary, KPIErrorRate)
		var n, e int64
		for _, s := range errs {
			n += max(s.Count, 1)
			e += s.Errors
		}
		if n >= int64(j.cfg.MinEvents) {
			rate := float64(e) / float64(n)
			if rate > j.cfg.ErrorRateLimit {
				return Verdict{KPI: KPIErrorRate, Reference: RefGuard, Outcome: Fail, Test: TestGuard, PValue: 0,
					Effect: rate, RelEffect: rate, Tolerance: j.cfg.ErrorRateLimit, CanaryN: int(n), CanaryValue: rate,
					Reason: fmt.Sprintf("canary error rate %.4f above limit %.4f (%d of %d)", rate, j.cfg.ErrorRateLimit, e, n)}, true
			}
		}
	}
	if j.cfg.LockWaitLimit > 0 {
		for _, s := range SelectKPI(canary, KPILockWaits) {
			if s.Value > j.cfg.LockWaitLimit {
				return Verdict{KPI: KPILockWaits, Reference: RefGuard, Outcome: Fail, Test: TestGuard, PValue: 0,
					Effect: s.Value, RelEffect: s.Value, Tolerance: j.cfg.LockWaitLimit, CanaryN: 1, CanaryValue: s.Value,
					Reason: fmt.Sprintf("%g sessions waiting on locks at %s, limit %g", s.Value, s.At.Format(time.RFC3339), j.cfg.LockWaitLimit)}, true
			}
		}
	}
	return Verdict{}, false
}

// splitBaseline separates the canary's own baseline (samples of instances
// that appear in canary) from the other instances' (the control's).
func splitBaseline(baseline, canary []Sample) (own, ofControl []Sample) {
	mine := map[string]bool{}
	for _, s := range canary {
		mine[s.Instance] = true
	}
	for _, s := range baseline {
		if mine[s.Instance] {
			own = append(own, s)
		} else {
			ofControl = append(ofControl, s)
		}
	}
	return own, ofControl
}

// driftCorrected scales the canary's baseline of a continuous KPI by the
// control's drift, median(control now) / median(control before), when
// both sides of the control have enough samples. It returns the samples
// to compare with and the factor applied (1 = none).
func (j *Judge) driftCorrected(kpi string, own, controlNow, controlBefore []Sample) ([]Sample, float64) {
	if KindOf(kpi) != KindContinuous || len(own) == 0 ||
		len(controlNow) < j.cfg.MinSamples || len(controlBefore) < j.cfg.MinSamples {
		return own, 1
	}
	before := Median(sampleValues(controlBefore))
	now := Median(sampleValues(controlNow))
	if before <= 0 || now <= 0 || math.IsInf(now/before, 0) {
		return own, 1
	}
	f := now / before
	out := make([]Sample, len(own))
	for i, s := range own {
		s.Value *= f
		out[i] = s
	}
	return out, f
}

// FormatPValue writes a p-value as the status page and the demo show it:
// four decimals, scientific notation below 0.0001, "n/a" when no test ran.
func FormatPValue(p float64) string {
	switch {
	case math.IsNaN(p):
		return "n/a"
	case p < 0.0001:
		return fmt.Sprintf("%.1e", p)
	}
	return fmt.Sprintf("%.4f", p)
}
