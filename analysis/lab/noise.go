package lab

import (
	"fmt"
	"io"
	"sort"
)

// sortRecords orders records by configuration, arm and repeat.
func sortRecords(recs []Record) {
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		if a.Arm != b.Arm {
			return a.Arm > b.Arm // product before goose
		}
		return a.Repeat < b.Repeat
	})
}

// Noise is the label noise measured by repeats: configurations run twice
// on the same arm (same template, size, load, long transaction and load
// seed; a fresh run on a table restored by Down), and how often the two
// labels disagree.
type Noise struct {
	Pairs    int     `json:"pairs"`
	Disagree int     `json:"disagree"`
	Rate     float64 `json:"rate"`
	// FirstSafe counts the pairs whose first run was judged safe;
	// SafeThenUnsafe those of them whose repeat was judged unsafe.
	// SafeFlip (their ratio) is how often a configuration that deployed
	// safely is labeled unsafe when run again: no prediction made before
	// the deploy can tell those runs apart, so it is a floor under the
	// share of safe-looking changes labeled unsafe (docs/model.md).
	FirstSafe      int     `json:"first_safe"`
	SafeThenUnsafe int     `json:"safe_then_unsafe"`
	SafeFlip       float64 `json:"safe_flip"`
	// Templates lists the templates of disagreeing pairs, with counts.
	Templates map[string]int `json:"templates,omitempty"`
}

// LabelNoise pairs every repeat with its first run.
func LabelNoise(recs []Record) Noise {
	first := map[string]bool{}
	for _, r := range recs {
		if r.Repeat == 0 {
			first[fmt.Sprintf("%d/%s", r.Index, r.Arm)] = r.Safe
		}
	}
	n := Noise{Templates: map[string]int{}}
	for _, r := range recs {
		if r.Repeat == 0 {
			continue
		}
		safe, ok := first[fmt.Sprintf("%d/%s", r.Index, r.Arm)]
		if !ok {
			continue
		}
		n.Pairs++
		if safe {
			n.FirstSafe++
			if !r.Safe {
				n.SafeThenUnsafe++
			}
		}
		if safe != r.Safe {
			n.Disagree++
			n.Templates[r.Template]++
		}
	}
	if n.Pairs > 0 {
		n.Rate = float64(n.Disagree) / float64(n.Pairs)
	}
	if n.FirstSafe > 0 {
		n.SafeFlip = float64(n.SafeThenUnsafe) / float64(n.FirstSafe)
	}
	return n
}

// ArmComparison compares the product arm with plain goose on the
// configurations run on both (first runs).
type ArmComparison struct {
	Pairs int `json:"pairs"`
	// BothSafe, BothUnsafe, OnlyProductSafe (goose's run was judged
	// unsafe, the product's safe) and OnlyGooseSafe count the pairs.
	BothSafe        int `json:"both_safe"`
	BothUnsafe      int `json:"both_unsafe"`
	OnlyProductSafe int `json:"only_product_safe"`
	OnlyGooseSafe   int `json:"only_goose_safe"`
	// LongTxnPairs are the pairs with a long transaction; LongTxnFlipped
	// those of them only the product's run was safe in.
	LongTxnPairs   int `json:"long_txn_pairs"`
	LongTxnFlipped int `json:"long_txn_flipped"`
	// ProductUnsafeRate and GooseUnsafeRate are over the pairs.
	ProductUnsafeRate float64 `json:"product_unsafe_rate"`
	GooseUnsafeRate   float64 `json:"goose_unsafe_rate"`
}

// CompareArms pairs the first runs of each configuration on both arms.
func CompareArms(recs []Record) ArmComparison {
	prod := map[int]Record{}
	for _, r := range recs {
		if r.Arm == ArmProduct && r.Repeat == 0 {
			prod[r.Index] = r
		}
	}
	var c ArmComparison
	var pu, gu int
	for _, g := range recs {
		if g.Arm != ArmGoose || g.Repeat != 0 {
			continue
		}
		p, ok := prod[g.Index]
		if !ok {
			continue
		}
		c.Pairs++
		if !p.Safe {
			pu++
		}
		if !g.Safe {
			gu++
		}
		switch {
		case p.Safe && g.Safe:
			c.BothSafe++
		case !p.Safe && !g.Safe:
			c.BothUnsafe++
		case p.Safe:
			c.OnlyProductSafe++
		default:
			c.OnlyGooseSafe++
		}
		if p.LongTxnSeconds > 0 {
			c.LongTxnPairs++
			if p.Safe && !g.Safe {
				c.LongTxnFlipped++
			}
		}
	}
	if c.Pairs > 0 {
		c.ProductUnsafeRate = float64(pu) / float64(c.Pairs)
		c.GooseUnsafeRate = float64(gu) / float64(c.Pairs)
	}
	return c
}

// Stats describes a dataset (the training records) for the datasheet.
type Stats struct {
	Records   int `json:"records"`
	Unsafe    int `json:"unsafe"`
	Templates int `json:"templates"`
	Families  int `json:"families"`
	// BySource, BySize, ByWriteRate and ByLongTxn count records and unsafe
	// records per value.
	BySource    map[string][2]int  `json:"by_source"`
	BySize      map[int64][2]int   `json:"by_size"`
	ByWriteRate map[float64][2]int `json:"by_write_rate"`
	ByLongTxn   map[float64][2]int `json:"by_long_txn"`
	// TimedOut, Failed (the migration errored) and Repaired count outcomes.
	TimedOut, Failed, Repaired int
}

// Describe computes Stats over recs.
func Describe(recs []Record) Stats {
	st := Stats{BySource: map[string][2]int{}, BySize: map[int64][2]int{}, ByWriteRate: map[float64][2]int{}, ByLongTxn: map[float64][2]int{}}
	tpls, fams := map[string]bool{}, map[string]bool{}
	add := func(c [2]int, unsafe bool) [2]int {
		c[0]++
		if unsafe {
			c[1]++
		}
		return c
	}
	for _, r := range recs {
		st.Records++
		u := !r.Safe
		if u {
			st.Unsafe++
		}
		tpls[r.Template], fams[r.Family] = true, true
		st.BySource[r.Source] = add(st.BySource[r.Source], u)
		if r.Source != KindCorpus {
			st.BySize[r.Rows] = add(st.BySize[r.Rows], u)
		}
		st.ByWriteRate[r.WriteRate] = add(st.ByWriteRate[r.WriteRate], u)
		st.ByLongTxn[r.LongTxnSeconds] = add(st.ByLongTxn[r.LongTxnSeconds], u)
		switch {
		case r.Outcome.TimedOut:
			st.TimedOut++
		case r.Outcome.ApplyError != "":
			st.Failed++
		}
		if r.Outcome.Repaired {
			st.Repaired++
		}
	}
	st.Templates, st.Families = len(tpls), len(fams)
	return st
}

// WriteText prints the stats as a few lines.
func (st Stats) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%d records (%d unsafe, %.0f%%) over %d templates in %d families; %d cut at the apply timeout, %d failed to apply, %d tables cloned again\n",
		st.Records, st.Unsafe, 100*float64(st.Unsafe)/float64(max(st.Records, 1)), st.Templates, st.Families, st.TimedOut, st.Failed, st.Repaired)
	line := func(title string, keys []string, get func(string) [2]int) {
		fmt.Fprintf(w, "  %s:", title)
		for _, k := range keys {
			c := get(k)
			fmt.Fprintf(w, " %s %d (%d unsafe)", k, c[0], c[1])
		}
		fmt.Fprintln(w)
	}
	var src []string
	for k := range st.BySource {
		src = append(src, k)
	}
	sort.Strings(src)
	line("source", src, func(k string) [2]int { return st.BySource[k] })
	var sizes []int64
	for k := range st.BySize {
		sizes = append(sizes, k)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	var sk []string
	for _, k := range sizes {
		sk = append(sk, TableName(k))
	}
	line("table", sk, func(k string) [2]int {
		for _, s := range sizes {
			if TableName(s) == k {
				return st.BySize[s]
			}
		}
		return [2]int{}
	})
	floatLine := func(title, unit string, m map[float64][2]int) {
		var ks []float64
		for k := range m {
			ks = append(ks, k)
		}
		sort.Float64s(ks)
		var names []string
		for _, k := range ks {
			names = append(names, fmt.Sprintf("%g%s", k, unit))
		}
		line(title, names, func(n string) [2]int {
			for _, k := range ks {
				if fmt.Sprintf("%g%s", k, unit) == n {
					return m[k]
				}
			}
			return [2]int{}
		})
	}
	floatLine("writes", "/s", st.ByWriteRate)
	floatLine("long transaction", "s", st.ByLongTxn)
}
