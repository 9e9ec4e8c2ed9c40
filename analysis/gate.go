package analysis

import (
	"fmt"
	"strings"
)

// Gate is what the deterministic checks say about a change before any
// model does. Fails are certain failures: the prediction's confidence is
// at most 0.05 whatever the model says. Holds are changes that are never
// auto-approved, whatever their confidence. Unverified are checks that
// could not run; each lowers the confidence.
type Gate struct {
	// Fails are the findings of ClassFails, in file order.
	Fails []Finding `json:"fails,omitempty"`
	// Holds say why a human must approve the change.
	Holds []Hold `json:"holds,omitempty"`
	// Unverified are the findings of ClassUnverified, in file order.
	Unverified []Finding `json:"unverified,omitempty"`
	// Slower are the workload statements the planner estimates at least
	// PlanRegressionRatio times more expensive after the change, among
	// those that run at least PlanRegressionCallsPerSec.
	Slower []PlanChange `json:"slower,omitempty"`
}

// Hold is one reason a change is never auto-approved.
type Hold struct {
	// Line locates the statement in the file.
	Line int `json:"line"`
	// Reason says what the statement destroys, in plain words.
	Reason string `json:"reason"`
}

// Failed reports whether the change cannot succeed as written.
func (g Gate) Failed() bool { return len(g.Fails) > 0 }

// Held reports whether a human must approve the change.
func (g Gate) Held() bool { return len(g.Holds) > 0 }

// Gate returns the report's gate: its findings of the classes fails and
// unverified, and the statements that destroy a database, a schema with
// everything in it, or the rows of a table the workload uses. A TRUNCATE is
// a hold when the report has no live context (it cannot tell whether the
// table is used) or when the context shows rows or traffic on the table.
func (r *Report) Gate() Gate {
	var g Gate
	for _, f := range r.Findings {
		switch ClassOf(f.RuleID) {
		case ClassFails:
			g.Fails = append(g.Fails, f)
		case ClassUnverified:
			g.Unverified = append(g.Unverified, f)
		}
	}
	if r.Live != nil {
		for _, pc := range r.Live.PlanChanges {
			if pc.Regression() {
				g.Slower = append(g.Slower, pc)
			}
		}
	}
	created := map[string]bool{}
	for _, s := range r.Statements {
		if s.Section != SectionUp {
			continue
		}
		switch {
		case s.Kind == "drop_database":
			g.Holds = append(g.Holds, Hold{Line: s.Line, Reason: "DROP DATABASE destroys a whole database"})
		case s.Kind == "drop_schema" && s.Destructive:
			var names []string
			for _, d := range s.Drops {
				names = append(names, d.Name)
			}
			g.Holds = append(g.Holds, Hold{Line: s.Line, Reason: fmt.Sprintf("DROP SCHEMA %s CASCADE destroys everything in it", strings.Join(names, ", "))})
		case s.Kind == "truncate":
			for _, t := range s.Relations {
				if created[t] {
					continue
				}
				if why, used := r.inUse(t); used {
					g.Holds = append(g.Holds, Hold{Line: s.Line, Reason: fmt.Sprintf("TRUNCATE %s deletes every row of a table %s", t, why)})
				}
			}
		}
		for _, c := range s.Creates {
			if c.Kind == "table" {
				created[qualify(c.Schema, c.Table, "public")] = true
			}
		}
	}
	return g
}

// inUse says whether table t holds rows or traffic according to the live
// context, and in words why; without context every table counts as used.
func (r *Report) inUse(t string) (string, bool) {
	if len(r.Context) == 0 {
		return "that may be in use (no live context to tell)", true
	}
	st, ok := r.Context[t]
	switch {
	case !ok || !st.Exists:
		return "", false
	case st.Rows > 0:
		return fmt.Sprintf("of about %s rows", humanCount(st.Rows)), true
	case st.WritesPerSec > 0 || st.ScansPerSec > 0:
		return "the workload uses", true
	}
	return "", false
}
