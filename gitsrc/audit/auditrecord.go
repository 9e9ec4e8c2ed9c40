package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/schemacanary/schemacanary/gitsrc"
)

// Transition is one state change of a change request, as the reconciler
// persisted it. It becomes one commit on the audit branch.
type Transition struct {
	// Version is the change's migration version (required).
	Version int64 `json:"version"`
	// From and To are state names (e.g. "canary" -> "baking"); To is
	// required, From is "" for the first state.
	From string `json:"from"`
	To   string `json:"to"`
	// Instance is the fleet instance the transition concerns, if any.
	Instance string `json:"instance,omitempty"`
	// Step distinguishes repeated transitions between the same states
	// (e.g. "wave 2"); optional.
	Step string `json:"step,omitempty"`
	// At is when the reconciler made the transition (zero: now).
	At time.Time `json:"at"`
	// Reason is a one-line explanation.
	Reason string `json:"reason,omitempty"`
	// Actor is who caused it (an approver, "schemacanary"); optional.
	Actor string `json:"actor,omitempty"`
	// Commit is the audit commit's SHA; set by History, ignored by Record.
	Commit string `json:"commit,omitempty"`
}

// ID identifies the transition within its change; Record writes a given
// ID once.
func (t Transition) ID() string {
	id := fmt.Sprintf("%s->%s", t.From, t.To)
	if t.Instance != "" {
		id += "@" + t.Instance
	}
	if t.Step != "" {
		id += "#" + t.Step
	}
	return id
}

// normalized returns t with every text field on one line, as stored.
func (t Transition) normalized() Transition {
	t.From, t.To, t.Instance = SingleLine(t.From), SingleLine(t.To), SingleLine(t.Instance)
	t.Step, t.Reason, t.Actor = SingleLine(t.Step), SingleLine(t.Reason), SingleLine(t.Actor)
	return t
}

// ChangeRecord is everything the audit file of one change shows. The
// reconciler fills it from its control store with plain values; every
// pointer and slice may be nil/empty and is then left out.
type ChangeRecord struct {
	Version     int64  `yaml:"version"`
	Name        string `yaml:"name,omitempty"`
	Path        string `yaml:"path,omitempty"`
	SHA256      string `yaml:"sha256,omitempty"`
	PR          int    `yaml:"pr,omitempty"`
	MergeCommit string `yaml:"merge_commit,omitempty"`
	Author      string `yaml:"author,omitempty"`
	Risk        int    `yaml:"risk,omitempty"`
	Owner       string `yaml:"owner,omitempty"`
	Ticket      string `yaml:"ticket,omitempty"`

	Prediction *PredictionRecord `yaml:"-"`
	Decision   *DecisionRecord   `yaml:"-"`
	// Timeline is the per-instance history, oldest first.
	Timeline []InstanceEvent `yaml:"-"`
	// KPIs are the judge's verdicts.
	KPIs     []KPIVerdict    `yaml:"-"`
	Rollback *RollbackRecord `yaml:"-"`
	// Notes are free-form lines (e.g. bad-input errors naming file:line).
	Notes []string `yaml:"-"`
}

// PredictionRecord is the model's prediction for a change.
type PredictionRecord struct {
	Confidence float64 // probability of a deploy without rollback, 0..1
	Threshold  float64 // the auto-approve threshold in force
	Model      string  // model version
	Reasons    []PredictionReason
	// Gate lists the deterministic findings before the model: certain
	// failures, holds (never auto-approved) and checks that could not run.
	Gate []string
	// Live is true when the change was checked against a live database.
	Live bool
}

// PredictionReason is one feature's contribution to a prediction.
type PredictionReason struct {
	Feature      string
	Value        float64
	Contribution float64 // signed, in log-odds or probability points
	Text         string  // human explanation
}

// DecisionRecord is how the change was let through (or not).
type DecisionRecord struct {
	Outcome string // "auto", "approved", "awaiting_approval", "skipped", ...
	By      string
	At      time.Time
	Reason  string
}

// InstanceEvent is one step on one instance.
type InstanceEvent struct {
	At       time.Time
	Instance string
	Wave     string
	Step     string // "apply", "bake", "rollback", ...
	Result   string // "ok", "failed", "retry", ...
	Detail   string
}

// KPIVerdict is the judge's verdict on one KPI.
type KPIVerdict struct {
	KPI      string
	Instance string
	Unit     string
	Canary   float64 // canary statistic (e.g. p99)
	Control  float64
	Baseline float64
	PValue   float64
	Effect   float64 // relative effect size, 0.25 = 25% worse
	Failed   bool
	Reason   string
	// Series, when set, is drawn as a mermaid line chart (canary vs
	// control over time).
	Series []KPIPoint
}

// KPIPoint is one sample of a KPI series.
type KPIPoint struct {
	At      time.Time
	Canary  float64
	Control float64
}

// RollbackRecord describes a rollback.
type RollbackRecord struct {
	At           time.Time
	Reason       string
	Instances    []string
	Archived     []string // schemacanary_archive tables written
	Duration     time.Duration
	RevertBranch string
	RevertURL    string
}

// changeFile is the audit file of a version.
func changeFile(version int64) string { return fmt.Sprintf("changes/%d.md", version) }

// Record writes rec as changes/<version>.md and commits it with a message
// describing tr, on the audit branch, then pushes. It is idempotent: when
// the file already records tr (same Transition.ID as its last transition)
// nothing is committed and committed is false, so a reconciler that
// crashed after Record and repeats it adds no second commit.
func (a *Audit) Record(ctx context.Context, rec ChangeRecord, tr Transition) (committed bool, err error) {
	if tr.Version == 0 {
		tr.Version = rec.Version
	}
	if rec.Version == 0 {
		rec.Version = tr.Version
	}
	if tr.Version != rec.Version || tr.Version <= 0 {
		return false, fmt.Errorf("audit record: version %d of transition and %d of record must match and be positive", tr.Version, rec.Version)
	}
	if SingleLine(tr.To) == "" {
		return false, fmt.Errorf("audit record %d: transition has no target state", tr.Version)
	}
	if tr.At.IsZero() {
		tr.At = a.now()
	}
	tr.At = tr.At.UTC().Truncate(time.Second)
	tr = tr.normalized()
	path := changeFile(rec.Version)
	committed, err = a.Commit(ctx, func(tip *object.Tree) (map[string][]byte, string, error) {
		old, _, err := gitsrc.TreeFileBytes(tip, path)
		if err != nil {
			return nil, "", err
		}
		prev, err := parseChangeFile(old)
		if err != nil {
			return nil, "", fmt.Errorf("audit record %d: %w", rec.Version, err)
		}
		if n := len(prev); n > 0 && prev[n-1].ID() == tr.ID() {
			return nil, "", nil
		}
		doc, err := renderChange(rec, append(prev, tr))
		if err != nil {
			return nil, "", fmt.Errorf("audit record %d: %w", rec.Version, err)
		}
		return map[string][]byte{path: doc}, transitionMessage(tr), nil
	})
	if err != nil {
		return false, fmt.Errorf("audit record %d %s: %w", rec.Version, tr.ID(), err)
	}
	if committed {
		a.log.Info("audit transition recorded", "change", rec.Version, "from", tr.From, "to", tr.To, "instance", tr.Instance)
	}
	return committed, nil
}

func SingleLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Update rewrites changes/<version>.md from rec without a state transition
// (e.g. new timeline events or KPI verdicts during a bake), as a commit
// without a State trailer, so History does not list it. The change must
// have a recorded transition already. An unchanged file commits nothing.
func (a *Audit) Update(ctx context.Context, rec ChangeRecord) (committed bool, err error) {
	if rec.Version <= 0 {
		return false, fmt.Errorf("audit update: version %d must be positive", rec.Version)
	}
	path := changeFile(rec.Version)
	committed, err = a.Commit(ctx, func(tip *object.Tree) (map[string][]byte, string, error) {
		old, _, err := gitsrc.TreeFileBytes(tip, path)
		if err != nil {
			return nil, "", err
		}
		prev, err := parseChangeFile(old)
		if err != nil {
			return nil, "", err
		}
		if len(prev) == 0 {
			return nil, "", fmt.Errorf("change %d has no recorded transition yet", rec.Version)
		}
		doc, err := renderChange(rec, prev)
		if err != nil || string(doc) == string(old) {
			return nil, "", err
		}
		return map[string][]byte{path: doc}, NoteMessage(rec.Version, "record updated", "State-Unchanged", prev[len(prev)-1].To), nil
	})
	if err != nil {
		return false, fmt.Errorf("audit update %d: %w", rec.Version, err)
	}
	return committed, nil
}

// NoteMessage is the message of an audit commit that is not a transition.
func NoteMessage(version int64, subject, trailer, value string) string {
	return fmt.Sprintf("%d %s\n\n%s: %d\n%s: %s\n", version, subject, TrailerVersion, version, trailer, value)
}
