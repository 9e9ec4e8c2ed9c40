package lab

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/analysis/model"
)

func TestPlanIsDeterministicAndBalanced(t *testing.T) {
	t.Parallel()
	corpus := []Template{
		{ID: "corpus/p/1", Family: "corpus_p", Kind: KindCorpus, Up: []string{"CREATE TABLE a (id int)"}},
		{ID: "corpus/p/2", Family: "corpus_p", Kind: KindCorpus, Up: []string{"CREATE TABLE b (id int)"}},
	}
	cfg := Config{Examples: 2000, Seed: 42, Arms: []Arm{ArmProduct, ArmGoose}, Corpus: corpus}
	a, err := Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Plan(cfg)
	if !reflect.DeepEqual(a, b) || PlanFingerprint(cfg, a) != PlanFingerprint(cfg, b) {
		t.Fatal("same seed, different plans")
	}
	c, _ := Plan(Config{Examples: 2000, Seed: 43, Arms: []Arm{ArmProduct, ArmGoose}, Corpus: corpus})
	if reflect.DeepEqual(a, c) || PlanFingerprint(cfg, a) == PlanFingerprint(cfg, c) {
		t.Fatal("different seeds, same plan")
	}
	// The same plan judged or applied another way is another plan: a
	// resumed run must not mix labels measured two ways.
	other := cfg
	other.Method = cfg.Method + "; judge tail 0.01"
	if PlanFingerprint(cfg, a) == PlanFingerprint(other, a) {
		t.Fatal("another method, same fingerprint")
	}
	other = cfg
	other.ApplyTimeout = 3 * time.Second
	if PlanFingerprint(cfg, a) == PlanFingerprint(other, a) {
		t.Fatal("another apply timeout, same fingerprint")
	}
	per := map[string]int{}
	sizes := map[int64]int{}
	writes := map[float64]int{}
	long := map[time.Duration]int{}
	arms := map[Arm]int{}
	keys := map[string]bool{}
	var repeats, corpusRuns, heavy int
	held := map[string]bool{}
	seenIndex := map[int]bool{}
	for _, tr := range a {
		if keys[tr.Key()] {
			t.Fatalf("run %s planned twice", tr.Key())
		}
		keys[tr.Key()] = true
		arms[tr.Arm]++
		if tr.Repeat > 0 {
			repeats++
			if !seenIndex[tr.Index] {
				t.Fatalf("repeat of %d before its first run", tr.Index)
			}
			continue
		}
		seenIndex[tr.Index] = true
		if tr.Arm != ArmProduct {
			continue
		}
		if tr.Template.Kind == KindCorpus {
			corpusRuns++
		} else {
			per[tr.Template.ID]++
			sizes[tr.Rows]++
		}
		if tr.heavy() {
			heavy++
		}
		writes[tr.WriteRate]++
		long[tr.LongTxn]++
		if tr.Risk < 1 || tr.Risk > 10 {
			t.Fatalf("risk %d out of 1..10", tr.Risk)
		}
		if prev, ok := held[tr.Template.ID]; ok && prev != tr.HeldOut {
			t.Fatalf("template %s both held out and not", tr.Template.ID)
		}
		held[tr.Template.ID] = tr.HeldOut
	}
	if arms[ArmProduct] != 2000+repeats || arms[ArmGoose] != 300 {
		t.Errorf("arms %v with %d repeats: want 2000 product first runs and 300 goose runs", arms, repeats)
	}
	if repeats < 200 {
		t.Errorf("%d repeats, want >= 10%% of 2000", repeats)
	}
	if corpusRuns < 330 || corpusRuns > 470 {
		t.Errorf("%d corpus replays, want about 400", corpusRuns)
	}
	n := len(Catalog())
	if len(per) != n {
		t.Errorf("%d templates used, want all %d", len(per), n)
	}
	lo, hi := 1<<30, 0
	for _, k := range per {
		lo, hi = min(lo, k), max(hi, k)
	}
	if hi-lo > 1 {
		t.Errorf("templates drawn between %d and %d times, want balanced rounds", lo, hi)
	}
	if len(sizes) != 6 || sizes[0] == 0 || sizes[10_000_000] == 0 || sizes[10_000_000] > sizes[1_000]/5 {
		t.Errorf("size draw %v: want all six, from empty to 10M, the largest rarely", sizes)
	}
	if writes[0] == 0 || writes[2000] == 0 || len(writes) != 5 {
		t.Errorf("write rates %v: want 0 to 2000/s", writes)
	}
	for _, d := range []time.Duration{0, time.Second, 5 * time.Second, 30 * time.Second} {
		if long[d] == 0 {
			t.Errorf("no trial with a %v transaction: %v", d, long)
		}
	}
	if heavy < 200 || heavy > 700 {
		t.Errorf("%d heavy trials", heavy)
	}
	// Every family keeps templates on both sides of the split.
	famHeld, famTrain := map[string]bool{}, map[string]bool{}
	for _, tp := range append(Catalog(), corpus...) {
		if held[tp.ID] {
			famHeld[tp.Family] = true
		} else {
			famTrain[tp.Family] = true
		}
	}
	for f := range famTrain {
		if !famHeld[f] {
			t.Errorf("family %s has no held-out template", f)
		}
	}
	for f := range famHeld {
		if !famTrain[f] {
			t.Errorf("family %s has no training template", f)
		}
	}
}

// The second arm runs right after its primary run; shares of 0 mean none.
func TestPlanSchedulesArmsAndRepeats(t *testing.T) {
	t.Parallel()
	runs, err := Plan(Config{Examples: 50, Arms: []Arm{ArmGoose, ArmProduct}, SecondArmShare: 1, RepeatShare: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 100 {
		t.Fatalf("%d runs, want 100", len(runs))
	}
	for i := 0; i < len(runs); i += 2 {
		if runs[i].Arm != ArmGoose || runs[i+1].Arm != ArmProduct || runs[i].Index != runs[i+1].Index {
			t.Fatalf("runs %d,%d: %s/%s of %d/%d", i, i+1, runs[i].Arm, runs[i+1].Arm, runs[i].Index, runs[i+1].Index)
		}
	}
	only, _ := Plan(Config{Examples: 50, SecondArmShare: -1, RepeatShare: -1})
	if len(only) != 50 {
		t.Fatalf("%d runs, want 50", len(only))
	}
}

func TestConfigRejectsNonsense(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"negative table":  {Sizes: []int64{-1}},
		"zero read rate":  {ReadRates: []float64{0}},
		"negative writes": {WriteRates: []float64{-5}},
		"lanes":           {Lanes: 50},
		"weights":         {Sizes: []int64{1000, 2000}, SizeWeights: []float64{1}},
		"short baseline":  {Baseline: 1},
		"duplicate ids":   {Templates: []Template{{ID: "a", Up: []string{"x"}}, {ID: "a", Up: []string{"y"}}}},
		"held-out share":  {HeldOutShare: 1},
		"repeat share":    {RepeatShare: 2},
		"negative weight": {Sizes: []int64{1000}, SizeWeights: []float64{-1}},
		"arm":             {Arms: []Arm{"blue"}},
		"long txn":        {LongTxns: []time.Duration{-time.Second}},
	} {
		if err := cfg.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: err = %v, want ErrBadConfig", name, err)
		}
	}
	if _, err := ParseArms("both"); err != nil {
		t.Error(err)
	}
	if _, err := ParseArms("green"); !errors.Is(err, ErrBadConfig) {
		t.Errorf("ParseArms(green) = %v", err)
	}
}

// Authors raise the label for big tables only a little, and not all of them:
// the lab's labels underrate size on average, as real ones do.
func TestRiskLabelUnderratesTableSize(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	tp := Template{ID: "x", AuthorRisk: 3}
	mean := func(rows int64) float64 {
		var s float64
		for i := 0; i < 4000; i++ {
			s += float64(RiskLabel(rng, tp, rows))
		}
		return s / 4000
	}
	small, big := mean(1_000), mean(2_000_000)
	if d := big - small; d < 0.2 || d > 1.2 {
		t.Errorf("mean label 1k rows %.2f, 2M rows %.2f: size should add a little (0.2..1.2), got %.2f", small, big, d)
	}
}

// Per-class median shifts are the evidence, as the judge compares classes.
func TestEvidenceUsesPerClassMedians(t *testing.T) {
	t.Parallel()
	r := Record{Outcome: Outcome{BaselineP50: 1, CanaryP50: 1.1, BaselineCalls: 100, CanaryCalls: 100,
		Classes: map[string]ClassOutcome{
			QueryByID:       {BaselineN: 80, CanaryN: 80, BaselineP50: 1, CanaryP50: 1},
			QueryInsert:     {BaselineN: 20, CanaryN: 20, BaselineP50: 1, CanaryP50: 21},
			QueryByCustomer: {BaselineN: 3, CanaryN: 3, BaselineP50: 1, CanaryP50: 500},
		}}}
	ev := r.Evidence()
	// insert: 20x slower with enough calls counts; by_customer has too few.
	if got, want := ev[model.EvidenceLatency], 3.0445; got < want-0.01 || got > want+0.01 {
		t.Errorf("latency evidence %v, want ln(21) = %v", got, want)
	}
	r.Outcome.Classes = nil
	if got := r.Evidence()[model.EvidenceLatency]; got > 0.1 {
		t.Errorf("without classes, all-class medians: %v", got)
	}
}

// A heavy run shares the machine with at most one light run, two heavy
// runs never overlap, and a heavy run is not starved by light ones.
func TestSchedulerRunsHeavyTrialsAlmostAlone(t *testing.T) {
	t.Parallel()
	light := func(i int) Trial { return Trial{Index: i, Rows: 1000} }
	heavy := func(i int) Trial { return Trial{Index: i, Rows: 10_000_000} }
	s := newScheduler([]Trial{light(0), light(1), heavy(2), light(3), heavy(4), light(5)}, 3, 0, time.Now(), Trial.heavy)
	a, _ := s.next()
	b, _ := s.next()
	if a.Index != 0 || b.Index != 1 {
		t.Fatalf("got %d, %d", a.Index, b.Index)
	}
	// One lane is free, but the heavy run 2 needs two: run 3 waits behind it.
	got := make(chan Trial, 1)
	go func() { tr, _ := s.next(); got <- tr }()
	select {
	case tr := <-got:
		t.Fatalf("run %d started while heavy run 2 waits for two lanes", tr.Index)
	case <-time.After(50 * time.Millisecond):
	}
	s.done(a)
	if tr := <-got; tr.Index != 2 {
		t.Fatalf("after a light run ended, run %d started, want heavy 2", tr.Index)
	}
	// Heavy 2 and light 1 run; no lane is free.
	go func() { tr, _ := s.next(); got <- tr }()
	s.done(b)
	if tr := <-got; tr.Index != 3 {
		t.Fatalf("run %d started next to heavy 2, want light 3 (heavy 4 must wait)", tr.Index)
	}
	go func() { tr, _ := s.next(); got <- tr }()
	select {
	case tr := <-got:
		t.Fatalf("run %d started with heavy 2 and light 3 running", tr.Index)
	case <-time.After(50 * time.Millisecond):
	}
	s.done(heavy(2))
	if tr := <-got; tr.Index != 4 {
		t.Fatalf("run %d started after heavy 2, want heavy 4", tr.Index)
	}
	s.stop()
	if _, ok := s.next(); ok {
		t.Fatal("a stopped scheduler handed out a run")
	}
}

// LabelNoise pairs each repeat with its first run: disagreements, and how
// often a configuration first judged safe is judged unsafe again.
func TestLabelNoiseCountsSafeFlips(t *testing.T) {
	run := func(index, repeat int, safe bool) Record {
		r := Record{Index: index, Arm: ArmProduct, Repeat: repeat, Template: "t"}
		r.Safe = safe
		return r
	}
	recs := []Record{
		run(1, 0, true), run(1, 1, false), // safe, then unsafe
		run(2, 0, true), run(2, 1, true),
		run(3, 0, true), run(3, 1, true),
		run(4, 0, false), run(4, 1, true), // unsafe, then safe
		run(5, 0, true), // no repeat
	}
	n := LabelNoise(recs)
	if n.Pairs != 4 || n.Disagree != 2 || n.FirstSafe != 3 || n.SafeThenUnsafe != 1 || math.Abs(n.SafeFlip-1.0/3) > 1e-12 || n.Rate != 0.5 {
		t.Errorf("noise %+v", n)
	}
}
