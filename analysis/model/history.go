package model

// History counts past outcomes in the fleet, for the history features of a
// new change. The zero value is an empty history; its features are the
// same as those of a control store with no finished change, so a
// prediction without a store (the CLI) equals one with an empty store.
type History struct {
	// Finished and RolledBack count finished changes (done, rolled back or
	// reverted) and those of them that were rolled back.
	Finished, RolledBack float64
	// AuthorFinished and AuthorRolledBack are the same for the author.
	AuthorFinished, AuthorRolledBack float64
	// TableFinished and TableRolledBack are the same for changes touching
	// any of the change's tables.
	TableFinished, TableRolledBack float64
	// RecentRollbacks counts rollbacks in the fleet in the last 7 days.
	RecentRollbacks float64
}

// historyPrior is the weight, in changes, of the fleet rate that an
// author's or a table's own rate is smoothed toward.
const historyPrior = 5.0

// Features returns the history features: the author's and the tables'
// rollback rates smoothed toward the fleet rate, and the recent incidents.
func (h History) Features() Features {
	fleet := (h.RolledBack + 0.5) / (h.Finished + 1)
	return Features{
		FeatureHistoryAuthorRollbackRate: (h.AuthorRolledBack + historyPrior*fleet) / (h.AuthorFinished + historyPrior),
		FeatureHistoryTableRollbackRate:  (h.TableRolledBack + historyPrior*fleet) / (h.TableFinished + historyPrior),
		FeatureHistoryRecentIncidents:    h.RecentRollbacks,
	}
}
