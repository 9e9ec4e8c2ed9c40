package model

import (
	"math"
	"sort"
)

// Features is a named numeric feature vector. It has the same shape as
// analysis.Features, so a report's features convert with a plain
// conversion: model.Features(report.Features()).
type Features map[string]float64

// Feature names the package itself defines. The analysis package defines the
// DDL and catalog features; history features come from History.
const (
	// FeatureHistoryTableRollbackRate is the fraction of past changes to
	// the touched tables that were rolled back (smoothed toward the fleet
	// rate): a hazard.
	FeatureHistoryTableRollbackRate = "history_table_rollback_rate"
	// FeatureHistoryKindRollbackRate is the same for past changes of the
	// same kind (sharing a hazard rule): a hazard.
	FeatureHistoryKindRollbackRate = "history_kind_rollback_rate"
)

// Merge returns a new vector with the features of all sets; later sets win
// on equal names.
func Merge(sets ...Features) Features {
	out := Features{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// value looks a feature up; ok is false when it is missing.
func value(f Features, name string) (float64, bool) {
	v, ok := f[name]
	return v, ok
}

// Coefficient is one input of a trained model: how it is standardized and
// its weight on the (uncalibrated) logit in standard units.
type Coefficient struct {
	Name string `json:"name"`
	// Mean and Scale standardize the raw value: (v-Mean)/Scale. A missing
	// value is taken as Mean (it contributes nothing).
	Mean  float64 `json:"mean"`
	Scale float64 `json:"scale"`
	// Weight multiplies the standardized value.
	Weight float64 `json:"weight"`
}

// scaler computes weighted means and standard deviations and drops
// constant features.
func buildScaler(ds Dataset, names []string) []Coefficient {
	out := make([]Coefficient, 0, len(names))
	for _, name := range names {
		var sw, s, ss float64
		for _, e := range ds {
			v, ok := value(e.Features, name)
			if !ok {
				continue
			}
			w := e.weight()
			sw += w
			s += w * v
			ss += w * v * v
		}
		if sw == 0 {
			continue
		}
		mean := s / sw
		variance := ss/sw - mean*mean
		if variance <= 1e-12*(1+mean*mean) {
			continue // constant: carries no information here
		}
		out = append(out, Coefficient{Name: name, Mean: mean, Scale: math.Sqrt(variance)})
	}
	return out
}

// featureNames is the sorted union of feature names in ds, restricted to
// only when it is not empty.
func featureNames(ds Dataset, only []string) []string {
	seen := map[string]bool{}
	if len(only) > 0 {
		for _, n := range only {
			seen[n] = true
		}
	} else {
		for _, e := range ds {
			for k := range e.Features {
				seen[k] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func standardize(cols []Coefficient, f Features, row []float64) {
	for j, c := range cols {
		v, ok := value(f, c.Name)
		if !ok {
			row[j] = 0
			continue
		}
		row[j] = (v - c.Mean) / c.Scale
	}
}

func buildDesign(ds Dataset, cols []Coefficient) *design {
	m := &design{n: len(ds), d: len(cols), x: make([]float64, len(ds)*len(cols)), y: make([]float64, len(ds)), w: make([]float64, len(ds))}
	for i, e := range ds {
		standardize(cols, e.Features, m.row(i))
		if e.Safe {
			m.y[i] = 1
		}
		m.w[i] = e.weight()
	}
	return m
}

func sortByAbsWeight(cs []Coefficient) {
	sort.SliceStable(cs, func(i, j int) bool { return math.Abs(cs[i].Weight) > math.Abs(cs[j].Weight) })
}
