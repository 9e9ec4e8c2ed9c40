package analysis

import "sort"

// Rule is one hazard check: its id, default severity, what it means and
// how to fix it. docs/rules/<ID>.md is generated from this table
// (go test ./analysis -run TestRuleDocs -update).
type Rule struct {
	// ID is stable; it names the rule in findings and ignore comments.
	ID       string
	Severity Severity
	// Class says what the hazard does to a deployment (see Class).
	Class Class
	// Summary is one sentence: what the rule catches.
	Summary string
	// Why explains the PostgreSQL behaviour behind it.
	Why string
	// Fix is the recipe that avoids the hazard.
	Fix string
	// Bad and Good are short SQL examples.
	Bad, Good string
	// OptIn rules are off unless enabled with WithEnabledRules.
	OptIn bool
	// Squawk is true for rules that carry a Squawk rule's name and meaning.
	Squawk bool
}

// Rules returns the rule table sorted by id. The slice is a copy.
func Rules() []Rule {
	out := append([]Rule(nil), ruleTable...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

var ruleIndex = func() map[string]int {
	m := make(map[string]int, len(ruleTable))
	for i, r := range ruleTable {
		m[r.ID] = i
	}
	return m
}()

func ruleByID(id string) (Rule, bool) {
	i, ok := ruleIndex[id]
	if !ok {
		return Rule{}, false
	}
	return ruleTable[i], true
}
