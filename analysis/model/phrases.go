package model

import "fmt"

// phrases maps known feature names to their plain-words description. It is
// read-only.
var phrases = map[string]func(v float64, f Features) string{
	FeatureRisk: func(v float64, _ Features) string { return fmt.Sprintf("the author rated the risk %.0f of 10", v) },
	FeatureLintErrors: func(v float64, _ Features) string {
		if v > 0 {
			return fmt.Sprintf("the linter reports %.0f error-severity hazard%s", v, plural(v))
		}
		return "no error-severity lint finding"
	},
	FeatureHistoryAuthorRollbackRate: func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f%% of the author's past changes were rolled back", 100*v)
	},
	FeatureHistoryTableRollbackRate: func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f%% of past changes to these tables were rolled back", 100*v)
	},
	FeatureHistoryRecentIncidents: func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f rollbacks on the fleet in the last 7 days", v)
	},
	FeatureHourSin:    func(float64, Features) string { return "time of day" },
	FeatureHourCos:    func(float64, Features) string { return "time of day" },
	FeatureWeekdaySin: func(float64, Features) string { return "day of the week" },
	FeatureWeekdayCos: func(float64, Features) string { return "day of the week" },
	FeatureWeekend: func(v float64, _ Features) string {
		if v > 0 {
			return "deployed on a weekend"
		}
		return "deployed on a weekday"
	},
}
