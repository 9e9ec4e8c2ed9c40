package lab

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Config describes a lab run. The zero value of each field means its
// default; Validate fills them in.
type Config struct {
	// Examples is how many configurations to run (default 600).
	Examples int
	// Seed makes the choice of configurations and risk labels repeatable
	// (default 1).
	Seed uint64
	// Sizes are the table sizes in rows (default 1k, 10k, 100k, 500k, 2M).
	Sizes []int64
	// SizeWeights weigh the draw of Sizes (default: equal, except that the
	// two largest sizes are drawn 0.7 and 0.4 times as often, for time).
	SizeWeights []float64
	// Rates are the load levels in statements per second (default 40, 100,
	// 200).
	Rates []float64
	// LongTxnShare is the share of configurations with a concurrent
	// transaction that holds a read lock on the table across the apply
	// (default 0.25; negative means none).
	LongTxnShare float64
	// LongTxn is how long that transaction stays open after the apply
	// starts (default 2.5s).
	LongTxn time.Duration
	// Lanes run configurations in parallel, each on its own database with
	// its own tables (default 3: most of a trial is measurement windows).
	Lanes int
	// Warmup, Baseline and Settle are the load's warm-up, the window before
	// the apply and the time measured after the apply ends (defaults 200ms,
	// 800ms, 1s).
	Warmup, Baseline, Settle time.Duration
	// ApplyTimeout fails a migration that runs longer (default 8s).
	ApplyTimeout time.Duration
	// HeldOutShare is the share of each family's templates whose examples
	// are marked held-out (default 0.25; at least one per family).
	HeldOutShare float64
	// Templates is the catalog (default Templates()).
	Templates []Template
	// Budget, when positive, stops starting trials once the run has lasted
	// this long; the trials under way finish and the run succeeds with
	// fewer examples (Summary.Planned says how many were planned).
	Budget time.Duration
}

// ErrBadConfig wraps invalid Config values.
var ErrBadConfig = errors.New("lab: invalid config")

// Validate fills defaults and rejects impossible values.
func (c *Config) Validate() error {
	if c.Examples == 0 {
		c.Examples = 600
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if len(c.Sizes) == 0 {
		c.Sizes = []int64{1_000, 10_000, 100_000, 500_000, 2_000_000}
	}
	if len(c.SizeWeights) == 0 {
		c.SizeWeights = make([]float64, len(c.Sizes))
		for i := range c.SizeWeights {
			c.SizeWeights[i] = 1
		}
		if len(c.Sizes) > 2 {
			c.SizeWeights[len(c.Sizes)-2] = 0.7
			c.SizeWeights[len(c.Sizes)-1] = 0.4
		}
	}
	if len(c.Rates) == 0 {
		c.Rates = []float64{40, 100, 200}
	}
	if c.LongTxnShare == 0 {
		c.LongTxnShare = 0.25
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.LongTxn, 2500*time.Millisecond)
	def(&c.Warmup, 200*time.Millisecond)
	def(&c.Baseline, 800*time.Millisecond)
	def(&c.Settle, 1000*time.Millisecond)
	def(&c.ApplyTimeout, 8*time.Second)
	if c.Lanes == 0 {
		c.Lanes = 3
	}
	if c.HeldOutShare == 0 {
		c.HeldOutShare = 0.25
	}
	if len(c.Templates) == 0 {
		c.Templates = Templates()
	}
	var errs []error
	if c.Examples < 1 {
		errs = append(errs, fmt.Errorf("examples %d < 1", c.Examples))
	}
	for _, s := range c.Sizes {
		if s < 100 {
			errs = append(errs, fmt.Errorf("table size %d < 100", s))
		}
	}
	if len(c.SizeWeights) != len(c.Sizes) {
		errs = append(errs, fmt.Errorf("%d size weights for %d sizes", len(c.SizeWeights), len(c.Sizes)))
	}
	for _, w := range c.SizeWeights {
		if !(w >= 0) {
			errs = append(errs, fmt.Errorf("size weight %v < 0", w))
		}
	}
	for _, r := range c.Rates {
		if !(r > 0) {
			errs = append(errs, fmt.Errorf("rate %v <= 0", r))
		}
	}
	if c.Lanes < 1 || c.Lanes > 8 {
		errs = append(errs, fmt.Errorf("lanes %d not in 1..8", c.Lanes))
	}
	if c.LongTxnShare > 1 || c.HeldOutShare < 0 || c.HeldOutShare >= 1 {
		errs = append(errs, fmt.Errorf("shares: long_txn %v, held_out %v", c.LongTxnShare, c.HeldOutShare))
	}
	if c.Warmup < 0 || c.Baseline < 500*time.Millisecond || c.Settle < 200*time.Millisecond || c.ApplyTimeout < time.Second || c.LongTxn < 0 {
		errs = append(errs, fmt.Errorf("windows: warmup %v, baseline %v (>= 500ms), settle %v (>= 200ms), apply timeout %v (>= 1s)", c.Warmup, c.Baseline, c.Settle, c.ApplyTimeout))
	}
	seen := map[string]bool{}
	for _, t := range c.Templates {
		if t.ID == "" || seen[t.ID] || len(t.Up) == 0 {
			errs = append(errs, fmt.Errorf("template %q: empty or duplicate id, or no Up", t.ID))
		}
		seen[t.ID] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadConfig, errors.Join(errs...))
	}
	return nil
}

// Trial is one planned configuration.
type Trial struct {
	Index    int      `json:"index"`
	Template Template `json:"-"`
	Rows     int64    `json:"rows"`
	Rate     float64  `json:"rate"`
	LongTxn  bool     `json:"long_txn"`
	// Risk is the author's label drawn by RiskLabel.
	Risk    int    `json:"risk"`
	HeldOut bool   `json:"heldout"`
	Seed    uint64 `json:"load_seed"`
}

// Plan draws the trials of a run: templates in balanced shuffled rounds
// (every template appears Examples/len(Templates) times, ±1), sizes, rates,
// long transactions and risk labels from the seed. Equal configs give equal
// plans.
func Plan(cfg Config) ([]Trial, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x1ab))
	held := heldOutTemplates(cfg.Templates, cfg.HeldOutShare, rng)
	trials := make([]Trial, 0, cfg.Examples)
	order := make([]int, len(cfg.Templates))
	for len(trials) < cfg.Examples {
		for i := range order {
			order[i] = i
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			if len(trials) == cfg.Examples {
				break
			}
			t := cfg.Templates[k]
			tr := Trial{
				Index: len(trials), Template: t,
				Rows:    cfg.Sizes[weighted(rng, cfg.SizeWeights)],
				Rate:    cfg.Rates[rng.IntN(len(cfg.Rates))],
				LongTxn: rng.Float64() < cfg.LongTxnShare,
				HeldOut: held[t.ID],
				Seed:    rng.Uint64(),
			}
			tr.Risk = RiskLabel(rng, t, tr.Rows)
			trials = append(trials, tr)
		}
	}
	return trials, nil
}

// heldOutTemplates picks, in every family, a seeded share of the templates
// (at least one) for the held-out split.
func heldOutTemplates(ts []Template, share float64, rng *rand.Rand) map[string]bool {
	fam := map[string][]string{}
	for _, t := range ts {
		fam[t.Family] = append(fam[t.Family], t.ID)
	}
	names := make([]string, 0, len(fam))
	for f := range fam {
		names = append(names, f)
	}
	sort.Strings(names)
	held := map[string]bool{}
	if share <= 0 {
		return held
	}
	for _, f := range names {
		ids := fam[f]
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		n := max(1, int(math.Round(share*float64(len(ids)))))
		if n >= len(ids) {
			n = len(ids) - 1
		}
		for _, id := range ids[:n] {
			held[id] = true
		}
	}
	return held
}

// RiskLabel draws the risk (1..10) an author would put in the front matter
// for template t on a table of rows rows. Authors start from how scary the
// change looks (Template.AuthorRisk: DROP and RENAME look scary, an index or
// a backfill looks routine), only about a third of them raise it for a big
// table (and then by less than it matters), and they disagree with each
// other by about ±1.3 points.
func RiskLabel(rng *rand.Rand, t Template, rows int64) int {
	r := t.AuthorRisk
	if rng.Float64() < 0.35 {
		r += 0.8 * math.Max(0, math.Log10(float64(rows))-4)
	}
	r += 1.3 * rng.NormFloat64()
	return int(math.Max(1, math.Min(10, math.Round(r))))
}

// weighted draws an index with probability proportional to its weight.
func weighted(rng *rand.Rand, w []float64) int {
	var total float64
	for _, v := range w {
		total += v
	}
	x := rng.Float64() * total
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	return len(w) - 1
}
