package rollout

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// PrometheusConfig configures the prometheus KPI source (YAML
// `canary.kpis.prometheus`): PromQL templates evaluated over each window
// through Prometheus' HTTP API, e.g. from the postgres_exporter and
// node_exporter that already watch the fleet.
//
//	prometheus:
//	  url: http://prometheus:9090
//	  step: 5s
//	  queries:
//	    cpu: 'rate(process_cpu_seconds_total{instance="$instance"}[1m])'
//	    error_rate: '...'
type PrometheusConfig struct {
	// URL is Prometheus' base URL (required).
	URL string `yaml:"url" json:"url"`
	// Queries maps a KPI name (see the KPI constants; "latency:<x>" for a
	// latency in ms, any other name is judged as a continuous KPI where
	// higher is worse) to a PromQL template. "$instance" is replaced by the
	// target's Labels["instance"] or else its Instance name, "$<label>" by
	// Labels["<label>"].
	Queries map[string]string `yaml:"queries" json:"queries"`
	// Step is the resolution of the range queries; default 5s.
	Step time.Duration `yaml:"step,omitempty" json:"step,omitempty"`
	// Lag is how long after a window's end the source waits before
	// querying, so the last scrape has landed; default 2s.
	Lag time.Duration `yaml:"lag,omitempty" json:"lag,omitempty"`
	// Timeout bounds one query; default 10s.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Prometheus evaluates PromQL range queries over each window. Every point
// of every returned series is a sample (At in [from, to)). Prometheus keeps
// the history, so the source is idempotent and can collect past windows:
// after a restart it simply queries again. Safe for concurrent use.
type Prometheus struct {
	api     v1.API
	cfg     PrometheusConfig
	queries []promQuery
}

type promQuery struct{ kpi, tmpl string }

var _ KPISource = (*Prometheus)(nil)

// NewPrometheus validates cfg and returns the source.
func NewPrometheus(cfg PrometheusConfig) (*Prometheus, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: prometheus url %q: want http(s)://host[:port]", ErrBadConfig, cfg.URL)
	}
	if len(cfg.Queries) == 0 {
		return nil, fmt.Errorf("%w: prometheus: no queries", ErrBadConfig)
	}
	if cfg.Step < 0 || cfg.Lag < 0 || cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: prometheus step, lag and timeout must be >= 0", ErrBadConfig)
	}
	if cfg.Step == 0 {
		cfg.Step = 5 * time.Second
	}
	if cfg.Lag == 0 {
		cfg.Lag = 2 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	client, err := api.NewClient(api.Config{Address: cfg.URL})
	if err != nil {
		return nil, fmt.Errorf("%w: prometheus client: %w", ErrBadConfig, err)
	}
	p := &Prometheus{api: v1.NewAPI(client), cfg: cfg}
	for kpi, q := range cfg.Queries {
		if kpi == "" || strings.TrimSpace(q) == "" {
			return nil, fmt.Errorf("%w: prometheus query %q: empty name or query", ErrBadConfig, kpi)
		}
		p.queries = append(p.queries, promQuery{kpi, q})
	}
	sort.Slice(p.queries, func(i, j int) bool { return p.queries[i].kpi < p.queries[j].kpi })
	return p, nil
}

// Name implements KPISource.
func (p *Prometheus) Name() string { return "prometheus" }

// Expand fills a query template for target t ($instance and $<label>).
func (p *Prometheus) Expand(tmpl string, t Target) string {
	vals := map[string]string{"instance": t.Instance}
	for k, v := range t.Labels {
		vals[k] = v
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	// Longest first, so $instance_name is not taken for $instance.
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		tmpl = strings.ReplaceAll(tmpl, "$"+k, vals[k])
	}
	return tmpl
}

// Collect implements KPISource: it waits until to + Lag, then runs every
// query as a range query over [from, to) at Step.
func (p *Prometheus) Collect(ctx context.Context, t Target, from, to time.Time) ([]judge.Sample, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("prometheus %s: empty window", t.Instance)
	}
	if err := sleepUntil(ctx, to.Add(p.cfg.Lag)); err != nil {
		return nil, err
	}
	out := []judge.Sample{}
	for _, q := range p.queries {
		expr := p.Expand(q.tmpl, t)
		qctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		val, _, _, err := p.api.QueryRange(qctx, expr, v1.Range{Start: from, End: to, Step: p.cfg.Step})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("prometheus %s: %s: %w", t.Instance, q.kpi, err)
		}
		mat, ok := val.(model.Matrix)
		if !ok {
			return nil, fmt.Errorf("prometheus %s: %s: range query returned %s, want a matrix", t.Instance, q.kpi, val.Type())
		}
		for _, series := range mat {
			for _, pt := range series.Values {
				v, at := float64(pt.Value), pt.Timestamp.Time()
				if math.IsNaN(v) || math.IsInf(v, 0) || !at.Before(to) || at.Before(from) {
					continue
				}
				out = append(out, judge.Sample{Instance: t.Instance, KPI: q.kpi, At: at, Value: v, Count: 1})
			}
		}
	}
	return out, nil
}
