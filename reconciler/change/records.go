package change

import (
	"errors"
	"time"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/assess"
)

// ErrNotFound is returned when a change request does not exist.
var ErrNotFound = errors.New("not found")

// ErrStale is returned by Transition when the change request is no longer in
// the expected state (another replica moved it, or a retry already did).
var ErrStale = errors.New("change request moved on")

// PredictionRecord is a stored prediction.
type PredictionRecord struct {
	Version      int64              `json:"version"`
	PR           int                `json:"pr,omitempty"`
	SHA256       string             `json:"sha256"`
	Confidence   float64            `json:"confidence"`
	ModelVersion string             `json:"model_version"`
	Reasons      []Reason           `json:"reasons,omitempty"`
	Features     map[string]float64 `json:"features,omitempty"`
	CreatedAt    time.Time          `json:"created_at"`
	// Assessment is the whole assessment the prediction came from (nil for
	// predictions stored before assessments were kept).
	Assessment *assess.Assessment `json:"assessment,omitempty"`
	// Plan is the rollout plan of a merged change (rollout.Plan as
	// JSON), built once from the parsed file and the assessment's report;
	// the rollout step reads it. Nil for proposals.
	Plan []byte `json:"-"`
}

// Event is one side effect on one instance, keyed (version, instance, step).
type Event struct {
	Version  int64       `json:"version"`
	Instance string      `json:"instance"`
	Step     string      `json:"step"`
	Outcome  string      `json:"outcome"`
	Detail   EventDetail `json:"detail"`
	At       time.Time   `json:"at"`
}

// EventDetail is what an event carries beside its outcome: the error of a
// failed step, the judge's decision of a judged interval. The control
// store keeps it as JSON in this shape.
type EventDetail struct {
	Error    string       `json:"error,omitempty"`
	Decision *JudgeRecord `json:"decision,omitempty"`
}

// KPISample is one historical KPI measurement.
type KPISample struct {
	Version  int64
	Instance string
	KPI      string
	Role     string // canary, control, baseline
	Value    float64
	At       time.Time
	// N is how many samples Value is the mean of (0 counts as 1): the
	// store keeps one row per instance, KPI, role and second
	// (PerSecond).
	N int
}

// PerSecond folds samples into one per version, instance, KPI, role and
// second (At truncated to the second): Value their mean, N their count,
// in the order each group first appears.
func PerSecond(samples []KPISample) []KPISample {
	type key struct {
		version       int64
		instance, kpi string
		role          string
		second        int64
	}
	idx := map[key]int{}
	var out []KPISample
	for _, s := range samples {
		n, v := max(s.N, 1), s.Value
		k := key{s.Version, s.Instance, s.KPI, s.Role, s.At.Truncate(time.Second).Unix()}
		i, ok := idx[k]
		if !ok {
			s.At, s.N, s.Value = s.At.Truncate(time.Second), 0, 0
			idx[k], i = len(out), len(out)
			out = append(out, s)
		}
		o := &out[i]
		o.Value = (o.Value*float64(o.N) + v*float64(n)) / float64(o.N+n)
		o.N += n
	}
	return out
}

// ApprovalRecord is one approval as the control store keeps it: bound to
// the version, the file's SHA-256 and the merge commit it approves.
type ApprovalRecord struct {
	Version     int64
	SHA256      string
	MergeCommit string
	By          string
	// Source is "forge" or "cli"; OSUser and Host say where a CLI approval
	// was given.
	Source, OSUser, Host string
}

// Rejection is a bad input: a migration file that cannot be applied.
type Rejection struct {
	Path, SHA256, Kind string
	Version            int64
	Line               int
	Message, Commit    string
	Reported           bool
	At                 time.Time
}

// ModelRecord is a trained model stored in the control store.
type ModelRecord struct {
	Version   string
	Examples  int
	Metrics   map[string]float64
	Blob      []byte
	TrainedAt time.Time
}

// HistoryRow is one finished change with the features it was predicted on.
type HistoryRow struct {
	Version    int64
	Author     string
	State      State
	RolledBack bool
	Features   map[string]float64
	MergedAt   time.Time
	// Tables are the tables the change touched.
	Tables []string
	// Gate is the stored assessment's gate (empty for a change assessed
	// before assessments were stored): training leaves out what it capped.
	Gate analysis.Gate
}
