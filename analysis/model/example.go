package model

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
)

// Example is one labeled migration outcome.
type Example struct {
	// Features are the named inputs (see FeatureNames for the ones the
	// package knows how to explain). A feature absent here is taken as
	// missing, not as zero, by Predict (see Model.Predict).
	Features map[string]float64 `json:"features"`
	// Safe is the outcome: the change deployed without a rollback.
	Safe bool `json:"safe"`
	// Group identifies the kind of change (the lab's template id, or any
	// key under which examples are not independent). Cross-validation and
	// the held-out split never put one group on both sides.
	Group string `json:"group"`
	// Weight scales the example's share of the loss; 0 means 1.
	Weight float64 `json:"weight,omitempty"`
	// Family groups templates of one kind (the lab's families); Evaluate
	// also leaves whole families out. Empty: the group is its own family.
	Family string `json:"family,omitempty"`
	// Gate is what the deterministic checks did to the example's
	// prediction (assess.Adjustments): a certain failure caps it, a check
	// that could not run lowers it, a hold stops it. Training leaves out
	// the examples the gate caps (the model scores what the gate lets
	// through); Evaluate scores the model's predictions after the gate,
	// as the product prints them.
	Gate []Adjustment `json:"gate,omitempty"`
}

// GateFailed reports whether the gate caps the example's confidence (a
// certain failure).
func (e Example) GateFailed() bool {
	for _, a := range e.Gate {
		if a.Cap > 0 {
			return true
		}
	}
	return false
}

func (e Example) weight() float64 {
	if e.Weight <= 0 {
		return 1
	}
	return e.Weight
}

// Dataset is a list of examples.
type Dataset []Example

// ErrEmptyDataset is returned by Train and Evaluate when there is nothing
// to learn from (no examples, or only one outcome).
var ErrEmptyDataset = errors.New("model: dataset has no examples of both outcomes")

// ReadJSONL reads one JSON Example per line (extra fields are ignored, so
// lab records can be read directly). Input starting with the gzip magic
// bytes is decompressed.
func ReadJSONL(r io.Reader) (Dataset, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("model: gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	var ds Dataset
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var ex Example
		if err := json.Unmarshal([]byte(text), &ex); err != nil {
			return nil, fmt.Errorf("model: line %d: %w", line, err)
		}
		ds = append(ds, ex)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("model: read dataset: %w", err)
	}
	return ds, nil
}

// WriteJSONL writes one JSON Example per line.
func (ds Dataset) WriteJSONL(w io.Writer) error {
	enc := json.NewEncoder(w)
	for i := range ds {
		if err := enc.Encode(&ds[i]); err != nil {
			return fmt.Errorf("model: write example %d: %w", i, err)
		}
	}
	return nil
}

// Groups returns the distinct groups, sorted.
func (ds Dataset) Groups() []string {
	c := ds.groupCounts()
	out := make([]string, 0, len(c))
	for g := range c {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

func (ds Dataset) groupCounts() map[string]int {
	c := map[string]int{}
	for _, e := range ds {
		c[e.Group]++
	}
	return c
}

// Folds assigns each example to one of k folds so that a group lies in one
// fold only (seeded shuffle of the groups, then round-robin). With fewer
// than k groups it falls back to assigning examples round-robin.
func (ds Dataset) Folds(k int, seed uint64) []int {
	fold := make([]int, len(ds))
	groups := ds.Groups()
	rng := rand.New(rand.NewPCG(seed, 0xf01d))
	if len(groups) < k {
		perm := rng.Perm(len(ds))
		for i, p := range perm {
			fold[p] = i % k
		}
		return fold
	}
	rng.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
	// Greedy balancing: the next largest group goes to the smallest fold.
	count := ds.groupCounts()
	sort.SliceStable(groups, func(i, j int) bool { return count[groups[i]] > count[groups[j]] })
	sizes := make([]int, k)
	of := map[string]int{}
	for _, g := range groups {
		best := 0
		for f := 1; f < k; f++ {
			if sizes[f] < sizes[best] {
				best = f
			}
		}
		of[g] = best
		sizes[best] += count[g]
	}
	for i, e := range ds {
		fold[i] = of[e.Group]
	}
	return fold
}

// gatePassed returns the examples the gate does not cap.
func (ds Dataset) gatePassed() Dataset {
	out := make(Dataset, 0, len(ds))
	for _, e := range ds {
		if !e.GateFailed() {
			out = append(out, e)
		}
	}
	return out
}

// hasGate reports whether any example carries gate adjustments.
func (ds Dataset) hasGate() bool {
	for _, e := range ds {
		if len(e.Gate) > 0 {
			return true
		}
	}
	return false
}

// safeRate is the weighted share of safe examples (0.5 when empty).
func (ds Dataset) safeRate() float64 {
	var safe, all float64
	for _, e := range ds {
		all += e.weight()
		if e.Safe {
			safe += e.weight()
		}
	}
	if all == 0 {
		return 0.5
	}
	return safe / all
}

func (ds Dataset) hasBothOutcomes() bool {
	var s, u bool
	for _, e := range ds {
		if e.Safe {
			s = true
		} else {
			u = true
		}
	}
	return s && u
}
