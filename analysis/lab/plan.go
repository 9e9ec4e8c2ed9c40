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
	// Examples is how many configurations to plan (default 2000); each
	// runs once on the primary arm, and those runs are the training data.
	Examples int
	// Seed makes the choice of configurations and risk labels repeatable
	// (default 1).
	Seed uint64
	// Sizes are the table sizes in rows (default 0, 1k, 10k, 100k, 1M, 10M),
	// each cloned from a template database built once.
	Sizes []int64
	// SizeWeights weigh the draw of Sizes (default 1, 1.2, 1.2, 1, 0.3,
	// 0.1: most trials small, a bounded share on 1M and 10M rows).
	SizeWeights []float64
	// CorpusSizes are the rows made up for each table a corpus replay
	// touches (default 0, 1k, 10k, 100k), drawn uniformly.
	CorpusSizes []int64
	// ReadRates are the read loads in statements per second (default 50,
	// 200), drawn uniformly.
	ReadRates []float64
	// WriteRates are the write loads in statements per second (default 0,
	// 10, 100, 500, 2000), drawn by WriteRateWeights (default 1, 1.2, 1.2,
	// 1, 0.6).
	WriteRates       []float64
	WriteRateWeights []float64
	// LongTxns are how long a transaction opened before the baseline stays
	// open after the migration starts (default 0, 1s, 5s, 30s; 0 = none),
	// drawn by LongTxnWeights (default 0.66, 0.18, 0.12, 0.04). Half of them
	// have written to the table (ROW EXCLUSIVE), half only read it.
	LongTxns       []time.Duration
	LongTxnWeights []float64
	// Arms are the ways of applying (default [ArmProduct]); the first is
	// the primary arm, whose first runs are the training data.
	Arms []Arm
	// SecondArmShare is the share of configurations also run on the other
	// arms, right after the primary run (default 0.15; negative: none).
	SecondArmShare float64
	// RepeatShare is the share of configurations run a second time on the
	// primary arm, a few dozen trials later, to measure label noise
	// (default 0.11; negative: none).
	RepeatShare float64
	// CorpusShare is the share of configurations that replay a corpus
	// file, when Corpus is not empty (default 0.2).
	CorpusShare float64
	// Lanes run trials in parallel, each on its own databases (default 3:
	// most of a trial is measurement windows).
	Lanes int
	// Warmup, Baseline and Settle are the load's warm-up, the window before
	// the apply and the time measured after the apply ends (defaults 250ms,
	// 1s, 800ms).
	Warmup, Baseline, Settle time.Duration
	// ApplyTimeout cuts a migration that runs longer than this plus the
	// trial's long transaction (default 8s); the trial is then judged on
	// the traffic meanwhile.
	ApplyTimeout time.Duration
	// HeldOutShare is the share of each family's templates whose examples
	// are marked held-out (default 0.25; at least one per family).
	HeldOutShare float64
	// Templates is the catalog (default Catalog()).
	Templates []Template
	// Corpus are the replays of third-party files (see CorpusTemplates);
	// the Runner fills it from WithCorpus.
	Corpus []Template
	// Method describes how runs are applied and judged beyond this Config:
	// the settings of the caller's Appliers and Judge. It is part of the
	// plan's fingerprint, so a killed run resumed with other settings is
	// refused instead of mixing labels measured two ways.
	Method string
	// Budget, when positive, stops starting trials once the run has lasted
	// this long; the trials under way finish and the run succeeds with
	// fewer examples (a later run with the same output resumes).
	Budget time.Duration
}

// ErrBadConfig wraps invalid Config values.
var ErrBadConfig = errors.New("lab: invalid config")

// HeavyRows and HeavyWriteRate mark heavy trials, which run one at a time
// so that they do not disturb each other's measurements.
const (
	HeavyRows      = 1_000_000
	HeavyWriteRate = 1000
)

// Validate fills defaults and rejects impossible values.
func (c *Config) Validate() error {
	c.defaults()
	var errs []error
	if c.Examples < 1 {
		errs = append(errs, fmt.Errorf("examples %d < 1", c.Examples))
	}
	for _, s := range append(append([]int64{}, c.Sizes...), c.CorpusSizes...) {
		if s < 0 {
			errs = append(errs, fmt.Errorf("table size %d < 0", s))
		}
	}
	check := func(what string, n int, w []float64) {
		if len(w) != n {
			errs = append(errs, fmt.Errorf("%d %s weights for %d values", len(w), what, n))
		}
		for _, v := range w {
			if !(v >= 0) {
				errs = append(errs, fmt.Errorf("%s weight %v < 0", what, v))
			}
		}
	}
	check("size", len(c.Sizes), c.SizeWeights)
	check("write rate", len(c.WriteRates), c.WriteRateWeights)
	check("long transaction", len(c.LongTxns), c.LongTxnWeights)
	for _, r := range c.ReadRates {
		if !(r > 0) {
			errs = append(errs, fmt.Errorf("read rate %v <= 0", r))
		}
	}
	for _, r := range c.WriteRates {
		if !(r >= 0) {
			errs = append(errs, fmt.Errorf("write rate %v < 0", r))
		}
	}
	for _, d := range c.LongTxns {
		if d < 0 {
			errs = append(errs, fmt.Errorf("long transaction %v < 0", d))
		}
	}
	seenArm := map[Arm]bool{}
	for _, a := range c.Arms {
		if (a != ArmProduct && a != ArmGoose) || seenArm[a] {
			errs = append(errs, fmt.Errorf("arm %q unknown or repeated", a))
		}
		seenArm[a] = true
	}
	if c.Lanes < 1 || c.Lanes > 8 {
		errs = append(errs, fmt.Errorf("lanes %d not in 1..8", c.Lanes))
	}
	if c.SecondArmShare > 1 || c.RepeatShare > 1 || c.CorpusShare > 1 || c.HeldOutShare < 0 || c.HeldOutShare >= 1 {
		errs = append(errs, fmt.Errorf("shares: second arm %v, repeat %v, corpus %v, held out %v", c.SecondArmShare, c.RepeatShare, c.CorpusShare, c.HeldOutShare))
	}
	if c.Warmup < 0 || c.Baseline < 500*time.Millisecond || c.Settle < 200*time.Millisecond || c.ApplyTimeout < time.Second {
		errs = append(errs, fmt.Errorf("windows: warmup %v, baseline %v (>= 500ms), settle %v (>= 200ms), apply timeout %v (>= 1s)", c.Warmup, c.Baseline, c.Settle, c.ApplyTimeout))
	}
	seen := map[string]bool{}
	for _, t := range append(append([]Template{}, c.Templates...), c.Corpus...) {
		if t.ID == "" || seen[t.ID] || len(t.Up) == 0 {
			errs = append(errs, fmt.Errorf("template %q: empty or duplicate id, or no Up", t.ID))
		}
		seen[t.ID] = true
	}
	if len(c.Templates) == 0 {
		errs = append(errs, errors.New("no templates"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadConfig, errors.Join(errs...))
	}
	return nil
}

func (c *Config) defaults() {
	if c.Examples == 0 {
		c.Examples = 2000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if len(c.Sizes) == 0 {
		c.Sizes = []int64{0, 1_000, 10_000, 100_000, 1_000_000, 10_000_000}
		if len(c.SizeWeights) == 0 {
			c.SizeWeights = []float64{1, 1.2, 1.2, 1, 0.3, 0.1}
		}
	}
	if len(c.SizeWeights) == 0 {
		c.SizeWeights = ones(len(c.Sizes))
	}
	if len(c.CorpusSizes) == 0 {
		c.CorpusSizes = []int64{0, 1_000, 10_000, 100_000}
	}
	if len(c.ReadRates) == 0 {
		c.ReadRates = []float64{50, 200}
	}
	if len(c.WriteRates) == 0 {
		c.WriteRates = []float64{0, 10, 100, 500, 2000}
		if len(c.WriteRateWeights) == 0 {
			c.WriteRateWeights = []float64{1, 1.2, 1.2, 1, 0.6}
		}
	}
	if len(c.WriteRateWeights) == 0 {
		c.WriteRateWeights = ones(len(c.WriteRates))
	}
	if len(c.LongTxns) == 0 {
		c.LongTxns = []time.Duration{0, time.Second, 5 * time.Second, 30 * time.Second}
		if len(c.LongTxnWeights) == 0 {
			c.LongTxnWeights = []float64{0.66, 0.18, 0.12, 0.04}
		}
	}
	if len(c.LongTxnWeights) == 0 {
		c.LongTxnWeights = ones(len(c.LongTxns))
	}
	if len(c.Arms) == 0 {
		c.Arms = []Arm{ArmProduct}
	}
	if c.SecondArmShare == 0 {
		c.SecondArmShare = 0.15
	}
	if c.RepeatShare == 0 {
		c.RepeatShare = 0.11
	}
	if c.CorpusShare == 0 {
		c.CorpusShare = 0.2
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Warmup, 250*time.Millisecond)
	def(&c.Baseline, time.Second)
	def(&c.Settle, 800*time.Millisecond)
	def(&c.ApplyTimeout, 8*time.Second)
	if c.Lanes == 0 {
		c.Lanes = 3
	}
	if c.HeldOutShare == 0 {
		c.HeldOutShare = 0.25
	}
	if len(c.Templates) == 0 {
		c.Templates = Catalog()
	}
}

func ones(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	return w
}

// Trial is one planned run: a configuration (Index), on an arm, the
// Repeat-th time.
type Trial struct {
	// Index is the configuration; the runs of one configuration on other
	// arms and its repeats share it.
	Index int `json:"index"`
	// Arm applies the migration; Repeat is 0 for the first run of the
	// configuration on that arm.
	Arm      Arm      `json:"arm"`
	Repeat   int      `json:"repeat,omitempty"`
	Template Template `json:"-"`
	// Rows is the table size (for a corpus replay: the rows made up for
	// each table it touches).
	Rows int64 `json:"rows"`
	// ReadRate and WriteRate are the load in statements per second.
	ReadRate  float64 `json:"read_rate"`
	WriteRate float64 `json:"write_rate"`
	// LongTxn is how long a transaction stays open after the migration
	// starts (0: none); LongTxnWrite says whether it wrote to the table.
	LongTxn      time.Duration `json:"long_txn"`
	LongTxnWrite bool          `json:"long_txn_write,omitempty"`
	// Risk is the author's label drawn by RiskLabel.
	Risk    int    `json:"risk"`
	HeldOut bool   `json:"heldout"`
	Seed    uint64 `json:"load_seed"`
}

// Key identifies the run in a dataset: "<index>/<arm>/<repeat>".
func (t Trial) Key() string { return fmt.Sprintf("%d/%s/%d", t.Index, t.Arm, t.Repeat) }

// heavy trials (a big table or a heavy write load) run one at a time.
func (t Trial) heavy() bool { return t.Rows >= HeavyRows || t.WriteRate >= HeavyWriteRate }

// Plan draws the runs of a lab: Examples configurations, each a template
// (in balanced shuffled rounds: every template appears about equally
// often; corpus replays from their own rounds, CorpusShare of the
// configurations), a table size, read and write rates, a long transaction
// and a risk label; then the second-arm runs (right after their primary
// run) and the repeats (a few dozen runs later). Equal configs give equal
// plans.
func Plan(cfg Config) ([]Trial, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x1ab))
	held := heldOutTemplates(append(append([]Template{}, cfg.Templates...), cfg.Corpus...), cfg.HeldOutShare, rng)
	lab, corpus := newRounds(cfg.Templates, rng), newRounds(cfg.Corpus, rng)
	primary := make([]Trial, 0, cfg.Examples)
	for i := range cfg.Examples {
		tr := Trial{Index: i, Arm: cfg.Arms[0]}
		if len(cfg.Corpus) > 0 && rng.Float64() < cfg.CorpusShare {
			tr.Template = corpus.next()
			tr.Rows = cfg.CorpusSizes[rng.IntN(len(cfg.CorpusSizes))]
		} else {
			tr.Template = lab.next()
			tr.Rows = cfg.Sizes[weighted(rng, cfg.SizeWeights)]
		}
		tr.ReadRate = cfg.ReadRates[rng.IntN(len(cfg.ReadRates))]
		tr.WriteRate = cfg.WriteRates[weighted(rng, cfg.WriteRateWeights)]
		tr.LongTxn = cfg.LongTxns[weighted(rng, cfg.LongTxnWeights)]
		tr.LongTxnWrite = rng.IntN(2) == 1
		if tr.LongTxn == 0 {
			tr.LongTxnWrite = false
		}
		tr.HeldOut = held[tr.Template.ID]
		tr.Seed = rng.Uint64()
		tr.Risk = RiskLabel(rng, tr.Template, tr.Rows)
		primary = append(primary, tr)
	}
	return schedule(cfg, primary), nil
}

// schedule adds the second-arm runs and the repeats to the primary runs
// and orders them all.
func schedule(cfg Config, primary []Trial) []Trial {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xe7))
	type slot struct {
		at float64
		tr Trial
	}
	slots := make([]slot, 0, len(primary)*3/2)
	for i, tr := range primary {
		slots = append(slots, slot{float64(i), tr})
	}
	pick := func(share float64) []int {
		if share <= 0 {
			return nil
		}
		n := min(len(primary), int(math.Ceil(share*float64(len(primary)))))
		idx := rng.Perm(len(primary))[:n]
		sort.Ints(idx)
		return idx
	}
	for _, arm := range cfg.Arms[1:] {
		for _, i := range pick(cfg.SecondArmShare) {
			tr := primary[i]
			tr.Arm = arm
			slots = append(slots, slot{float64(i) + 0.5, tr})
		}
	}
	for _, i := range pick(cfg.RepeatShare) {
		tr := primary[i]
		tr.Repeat = 1
		slots = append(slots, slot{float64(i+1+rng.IntN(40)) + 0.25, tr})
	}
	sort.SliceStable(slots, func(a, b int) bool { return slots[a].at < slots[b].at })
	out := make([]Trial, len(slots))
	for i, s := range slots {
		out[i] = s.tr
	}
	return out
}

// rounds hands out templates in balanced shuffled rounds.
type rounds struct {
	ts    []Template
	order []int
	rng   *rand.Rand
}

func newRounds(ts []Template, rng *rand.Rand) *rounds { return &rounds{ts: ts, rng: rng} }

func (r *rounds) next() Template {
	if len(r.order) == 0 {
		r.order = r.rng.Perm(len(r.ts))
	}
	t := r.ts[r.order[0]]
	r.order = r.order[1:]
	return t
}

// heldOutTemplates picks, in every family, a seeded share of the templates
// (at least one, and never all) for the held-out split.
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
		r += 0.8 * math.Max(0, math.Log10(float64(max(rows, 1)))-4)
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
