package model

// History counts past outcomes in the fleet, for the history features of a
// new change. The zero value is an empty history; its features are the
// same as those of a control store with no finished change, so a
// prediction without a store (the CLI) equals one with an empty store.
type History struct {
	// Finished and RolledBack count finished changes (done, rolled back or
	// reverted) and those of them that were rolled back.
	Finished, RolledBack float64
	// TableFinished and TableRolledBack are the same for changes touching
	// any of the change's tables.
	TableFinished, TableRolledBack float64
	// KindFinished and KindRolledBack are the same for changes of the same
	// kind: sharing a hazard (a rule of class fails, blocks, loses-data or
	// breaks-app, analysis.Report.HazardKinds) with the change.
	KindFinished, KindRolledBack float64
}

// historyPrior is the weight, in changes, of the fleet rate that a table's
// or a kind's own rate is smoothed toward.
const historyPrior = 5.0

// Features returns the history features: the rollback rates of past
// changes to the same tables and of the same kind, each smoothed toward the
// fleet rate (so a table or kind without history has the fleet's rate).
// Both are hazards: a higher rate can only lower the confidence.
func (h History) Features() Features {
	fleet := (h.RolledBack + 0.5) / (h.Finished + 1)
	return Features{
		FeatureHistoryTableRollbackRate: (h.TableRolledBack + historyPrior*fleet) / (h.TableFinished + historyPrior),
		FeatureHistoryKindRollbackRate:  (h.KindRolledBack + historyPrior*fleet) / (h.KindFinished + historyPrior),
	}
}
