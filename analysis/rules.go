package analysis

// Rule is one hazard check: its id, default severity, what it means and
// how to fix it. docs/rules/<ID>.md is generated from the rule table.
type Rule struct {
	ID       string
	Severity Severity
	// Summary is one sentence: what the rule catches.
	Summary string
	// Why explains the PostgreSQL behaviour behind it.
	Why string
	// Fix is the recipe that avoids the hazard.
	Fix string
	// OptIn rules are off unless enabled with WithEnabledRules.
	OptIn bool
}

// Rules returns the rule table, sorted by id. The slice is a copy.
func Rules() []Rule { return append([]Rule(nil), ruleTable...) }

var ruleTable = []Rule{}

func ruleByID(id string) (Rule, bool) {
	for _, r := range ruleTable {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
