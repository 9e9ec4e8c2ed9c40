package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"
)

// KPIConfig selects and configures the KPI sources (YAML `canary.kpis`).
//
//	kpis:
//	  pgstat:
//	    classes: {orders_by_id: "FROM orders WHERE id"}
//	  probes:
//	    - {name: orders_by_id, sql: "SELECT * FROM orders WHERE id = 42", rate: 20}
//	  proc: {enabled: true}
//	  prometheus:
//	    url: http://127.0.0.1:9090
//	    queries: {cpu: 'rate(process_cpu_seconds_total{instance="$instance"}[30s])'}
//
// pgstat is on unless disabled; probe runs when probes are listed; proc
// when enabled; prometheus when its url is set.
type KPIConfig struct {
	Pgstat     PgstatConfig      `yaml:"pgstat,omitempty" json:"pgstat,omitempty"`
	Probes     []ProbeConfig     `yaml:"probes,omitempty" json:"probes,omitempty"`
	Proc       ProcConfig        `yaml:"proc,omitempty" json:"proc,omitempty"`
	Prometheus *PrometheusConfig `yaml:"prometheus,omitempty" json:"prometheus,omitempty"`
}

// Validate builds nothing but checks every source's options, as
// NewSources would.
func (c KPIConfig) Validate() error {
	s, err := NewSources(c, NewMemoryStore(1))
	if err != nil {
		return err
	}
	s.Close()
	return nil
}

// Sources is the set of KPI sources a canary samples. Safe for concurrent use.
type Sources struct {
	list    []KPISource
	closers []func()
}

// NewSources builds the configured sources sharing store (nil: one fresh
// MemoryStore; pass a DirStore to resume windows after a restart). It
// returns an error wrapping ErrBadConfig for invalid options.
func NewSources(cfg KPIConfig, store SampleStore) (*Sources, error) {
	if store == nil {
		store = NewMemoryStore(0)
	}
	s := &Sources{}
	var errs []error
	if !cfg.Pgstat.Disabled {
		if src, err := NewPgstat(cfg.Pgstat, store); err != nil {
			errs = append(errs, err)
		} else {
			s.list, s.closers = append(s.list, src), append(s.closers, src.Close)
		}
	}
	if len(cfg.Probes) > 0 {
		if src, err := NewProbe(cfg.Probes, store); err != nil {
			errs = append(errs, err)
		} else {
			s.list, s.closers = append(s.list, src), append(s.closers, src.Close)
		}
	}
	if cfg.Proc.Enabled {
		if src, err := NewProc(cfg.Proc, store); err != nil {
			errs = append(errs, err)
		} else {
			s.list, s.closers = append(s.list, src), append(s.closers, src.Close)
		}
	}
	if cfg.Prometheus != nil && cfg.Prometheus.URL != "" {
		if src, err := NewPrometheus(*cfg.Prometheus); err != nil {
			errs = append(errs, err)
		} else {
			s.list = append(s.list, src)
		}
	}
	if len(errs) > 0 {
		s.Close()
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// NewSourcesFrom wraps ready-made sources (e.g. a fake in tests).
func NewSourcesFrom(list ...KPISource) *Sources { return &Sources{list: list} }

// List returns the sources.
func (s *Sources) List() []KPISource { return append([]KPISource(nil), s.list...) }

// Close releases every source's connections.
func (s *Sources) Close() {
	for _, c := range s.closers {
		c()
	}
}

// Warmer is implemented by sources that hold connections to their
// targets: Warm opens them ahead of the first window, so no measurement
// pays for connecting (a cold probe's first window can otherwise be empty
// on a slow link or a loaded machine).
type Warmer interface {
	Warm(ctx context.Context, t Target) error
}

var (
	_ Warmer = (*Probe)(nil)
	_ Warmer = (*Pgstat)(nil)
)

// Warm opens the connections of every source that holds some (Warmer) to
// every target, concurrently; call it before sampling the baseline. Errors
// are joined; the sources stay usable.
func (s *Sources) Warm(ctx context.Context, targets []Target) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, src := range s.list {
		w, ok := src.(Warmer)
		if !ok {
			continue
		}
		for _, t := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w.Warm(ctx, t); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("kpi %s warm %s: %w", src.Name(), t.Instance, err))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Collect runs every source on every target concurrently over [from, to)
// (so it blocks until to) and returns all samples. Errors of single
// source/target pairs do not stop the others: they are joined into the
// returned error (each wrapping its cause, e.g. ErrWindowLost) alongside
// the samples that were collected.
func (s *Sources) Collect(ctx context.Context, targets []Target, from, to time.Time) ([]judge.Sample, error) {
	var (
		mu   sync.Mutex
		out  []judge.Sample
		errs []error
		wg   sync.WaitGroup
	)
	for _, src := range s.list {
		for _, t := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				samples, err := src.Collect(ctx, t, from, to)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					slog.Warn("kpi collect failed", "source", src.Name(), "instance", t.Instance, "err", err)
					errs = append(errs, fmt.Errorf("kpi %s on %s: %w", src.Name(), t.Instance, err))
				}
				out = append(out, samples...)
			}()
		}
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
