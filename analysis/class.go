package analysis

// Class says what a rule's hazard does to a deployment. Every rule has
// exactly one; docs/rules lists it beside the severity. The prediction gate
// reads classes, not severities: a finding of ClassFails means the change
// cannot succeed as written, so `lint` and `predict` always agree on it.
type Class string

// The classes, from the most to the least certain harm.
const (
	// ClassFails: PostgreSQL (or goose) will reject the change as written:
	// it does not parse, a statement cannot run where goose runs it, the
	// dry run failed, or the target's data violates what the change adds.
	// Findings of this class force the prediction gate (confidence <= 0.05)
	// and cannot be ignored or disabled.
	ClassFails Class = "fails"
	// ClassBlocks: the change takes a lock that stalls traffic for as long
	// as its work (a rewrite, a scan, an index build) takes.
	ClassBlocks Class = "blocks"
	// ClassLosesData: the change destroys data (drops, truncates, deletes).
	ClassLosesData Class = "loses-data"
	// ClassBreaksApp: deployed code may fail after the change (renames,
	// NOT NULL without default, NULLs where there were none).
	ClassBreaksApp Class = "breaks-app"
	// ClassNotReversible: the Down section cannot undo the Up section, or
	// would lose what was written meanwhile.
	ClassNotReversible Class = "not-reversible"
	// ClassUnverified: a check that should have run could not (timeout, no
	// permission, missing tooling); the change is not known to be safe
	// in that respect, and its confidence is lowered.
	ClassUnverified Class = "unverified"
	// ClassAdvice: style and robustness advice with no direct harm.
	ClassAdvice Class = "advice"
)

// Classes returns every class, most certain harm first.
func Classes() []Class {
	return []Class{ClassFails, ClassBlocks, ClassLosesData, ClassBreaksApp, ClassNotReversible, ClassUnverified, ClassAdvice}
}

// ClassOf returns the class of rule id ("" for an unknown id).
func ClassOf(id string) Class {
	r, ok := ruleByID(id)
	if !ok {
		return ""
	}
	return r.Class
}
