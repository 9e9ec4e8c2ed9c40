package rollout

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"
)

func TestKindOfAndSelect(t *testing.T) {
	t.Parallel()
	for kpi, want := range map[string]judge.Kind{
		judge.KPIErrorRate: judge.KindProportion, "error_rate:probe": judge.KindProportion, judge.KPIDeadlocks: judge.KindProportion,
		judge.KPIConflicts: judge.KindProportion, "latency:x": judge.KindContinuous, judge.KPICPU: judge.KindContinuous,
		judge.KPILockWaits: judge.KindContinuous, "error_rates_custom": judge.KindContinuous,
	} {
		if got := judge.KindOf(kpi); got != want {
			t.Errorf("KindOf(%s) = %v, want %v", kpi, got, want)
		}
	}
	t0 := time.Unix(100, 0)
	s := []judge.Sample{{KPI: "b", At: t0.Add(2)}, {KPI: "a", At: t0}, {KPI: "b", At: t0.Add(1)}}
	if got := judge.SelectKPI(s, "b"); len(got) != 2 || !got[0].At.Before(got[1].At) {
		t.Errorf("SelectKPI = %+v, want two b samples in time order", got)
	}
	if got := judge.KPINames(s); fmt.Sprint(got) != "[a b]" {
		t.Errorf("KPINames = %v", got)
	}
}

func TestSampleStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, err := NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]SampleStore{"memory": NewMemoryStore(2), "dir": dir} {
		if _, ok, err := st.Get(ctx, "pgstat/samples/eu 1/1-2"); ok || err != nil {
			t.Errorf("%s: empty get: ok=%v err=%v", name, ok, err)
		}
		if err := st.Put(ctx, "pgstat/samples/eu 1/1-2", []byte("v1")); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, "pgstat/samples/eu 1/1-2", []byte("v2")); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := st.Get(ctx, "pgstat/samples/eu 1/1-2"); !ok || err != nil || string(v) != "v2" {
			t.Errorf("%s: get = %q %v %v, want v2", name, v, ok, err)
		}
	}
	m := NewMemoryStore(2)
	for i := 0; i < 3; i++ {
		_ = m.Put(ctx, fmt.Sprint(i), []byte{byte(i)})
	}
	if _, ok, _ := m.Get(ctx, "0"); ok {
		t.Error("memory store kept more than its capacity")
	}
	if _, ok, _ := m.Get(ctx, "2"); !ok {
		t.Error("memory store lost the newest entry")
	}
}

// kpiFakeSource returns fixed samples for one instance and fails for another.
type kpiFakeSource struct{}

func (kpiFakeSource) Name() string { return "fake" }

func (kpiFakeSource) Collect(_ context.Context, t Target, from, to time.Time) ([]judge.Sample, error) {
	if t.Instance == "broken" {
		return nil, fmt.Errorf("fake: %w", ErrWindowLost)
	}
	return []judge.Sample{{Instance: t.Instance, KPI: "latency:x", At: from, Value: 1}}, nil
}

func TestSourcesCollectAndConfig(t *testing.T) {
	t.Parallel()
	s := NewSourcesFrom(kpiFakeSource{})
	now := time.Now()
	got, err := s.Collect(context.Background(), []Target{{Instance: "a"}, {Instance: "broken"}, {Instance: "b"}}, now, now.Add(time.Millisecond))
	if len(got) != 2 || !errors.Is(err, ErrWindowLost) {
		t.Errorf("Collect = %d samples, %v; want 2 samples and a joined ErrWindowLost", len(got), err)
	}
	if err := s.Warm(context.Background(), []Target{{Instance: "a"}}); err != nil {
		t.Errorf("Warm without warmers: %v", err)
	}

	srcs, err := NewSources(KPIConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := srcs.List(); len(l) != 1 || l[0].Name() != "pgstat" {
		t.Errorf("default sources = %v, want pgstat only", l)
	}
	srcs.Close()
	full := KPIConfig{
		Probes:     []ProbeConfig{{Name: "p", SQL: "SELECT 1"}},
		Proc:       ProcConfig{Enabled: true},
		Prometheus: &PrometheusConfig{URL: "http://127.0.0.1:9", Queries: map[string]string{"cpu": "up"}},
	}
	srcs, err = NewSources(full, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, src := range srcs.List() {
		names = append(names, src.Name())
	}
	if fmt.Sprint(names) != "[pgstat probe proc prometheus]" {
		t.Errorf("sources = %v", names)
	}
	srcs.Close()
	for _, bad := range []KPIConfig{
		{Probes: []ProbeConfig{{Name: "p"}}},
		{Pgstat: PgstatConfig{Classes: map[string]string{"x": "["}}},
		{Prometheus: &PrometheusConfig{URL: "http://x:1"}},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrBadConfig", bad, err)
		}
	}
}
