package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/analysis"
)

// TestNewRulesRecallOnCorpus measures, over every file of ../shared/corpus,
// how many of the statements each newer rule is about it reports: the
// eligible statements come from the parse tree's statement kind (a DROP
// VIEW is eligible for ban-drop-view unless the same file created the
// view), independently of the rule's own logic. docs/BENCHMARKS.md quotes
// the table this test logs.
func TestNewRulesRecallOnCorpus(t *testing.T) {
	t.Parallel()
	eligible := map[string]func(s analysis.StatementReport) bool{
		"ban-drop-view": func(s analysis.StatementReport) bool {
			return s.Kind == "drop_view" || s.Kind == "drop_materialized_view"
		},
		"ban-drop-function": func(s analysis.StatementReport) bool { return s.Kind == "drop_function" || s.Kind == "drop_procedure" },
		"ban-drop-type":     func(s analysis.StatementReport) bool { return s.Kind == "drop_type" || s.Kind == "drop_domain" },
		"ban-drop-trigger":  func(s analysis.StatementReport) bool { return s.Kind == "drop_trigger" },
		"ban-drop-cascade": func(s analysis.StatementReport) bool {
			return strings.HasPrefix(s.Kind, "drop_") && s.Kind != "drop_schema" && strings.Contains(strings.ToUpper(s.SQL), " CASCADE")
		},
	}
	type count struct{ eligible, fired int }
	counts := map[string]*count{}
	for id := range eligible {
		counts[id] = &count{}
	}
	for _, corpus := range []string{"squawk", "goose"} {
		out, code := runCLI(t, "lint", "--format", "json", sharedCorpus(t, corpus))
		if code > 1 {
			t.Fatalf("lint exit %d", code)
		}
		var reports []analysis.Report
		if err := json.Unmarshal([]byte(out), &reports); err != nil {
			t.Fatal(err)
		}
		for _, r := range reports {
			created := map[string]bool{}
			for _, s := range r.Statements {
				if s.Section != analysis.SectionUp {
					continue
				}
				fired := map[string]bool{}
				for _, f := range r.Findings {
					if f.Line == s.Line {
						fired[f.RuleID] = true
					}
				}
				madeHere := false
				for _, d := range s.Drops {
					madeHere = madeHere || created[d.Name] || created[d.Table]
				}
				for id, ok := range eligible {
					if ok(s) && (!madeHere || id == "ban-drop-cascade") {
						counts[id].eligible++
						if fired[id] {
							counts[id].fired++
						} else {
							t.Logf("%s: %s line %d not reported: %s", id, r.Path, s.Line, s.SQL)
						}
					}
				}
				for _, c := range s.Creates {
					created[c.Name], created[c.Table] = true, true
					if c.Schema != "" {
						created[c.Schema+"."+c.Name] = true
					}
				}
			}
		}
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	b.WriteString("| rule | eligible statements | reported | recall |\n| --- | ---: | ---: | ---: |\n")
	for _, id := range ids {
		c := counts[id]
		recall := "—"
		if c.eligible > 0 {
			recall = fmt.Sprintf("%.2f", float64(c.fired)/float64(c.eligible))
			if c.fired < c.eligible {
				t.Errorf("%s: recall %d/%d", id, c.fired, c.eligible)
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s |\n", id, c.eligible, c.fired, recall)
	}
	t.Logf("recall of the newer rules over ../shared/corpus:\n%s", b.String())
}
