package reconciler

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/notify"
)

// Metrics are the daemon's Prometheus metrics, on their own registry (no
// global state). Safe for concurrent use.
type Metrics struct {
	reg               *prometheus.Registry
	changes           *prometheus.GaugeVec
	rollouts          *prometheus.CounterVec
	rollbacks         *prometheus.CounterVec
	outcomes          *prometheus.CounterVec
	confidence        prometheus.Histogram
	pvalues           *prometheus.HistogramVec
	reconcileDuration prometheus.Histogram
	leader            prometheus.Gauge
	lastPoll          prometheus.Gauge
	rejections        prometheus.Counter
	retrains          *prometheus.CounterVec
	holdoutBrier      *prometheus.GaugeVec
	alertEvents       *prometheus.CounterVec
	catchUps          *prometheus.CounterVec
}

// NewMetrics creates the metrics and their registry (with Go and process
// collectors).
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		changes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "schemacanary_changes",
			Help: "Change requests by state."}, []string{"state"}),
		rollouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "schemacanary_rollout_waves_total",
			Help: "Waves applied, by wave and outcome (applied, failed)."}, []string{"wave", "outcome"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "schemacanary_rollbacks_total",
			Help: "Rollbacks by outcome."}, []string{"outcome"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "schemacanary_outcomes_total",
			Help: "Finished change requests by outcome (done, rolled_back, failed)."}, []string{"outcome"}),
		confidence: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "schemacanary_prediction_confidence",
			Help: "Predicted probability of a deploy without rollback.", Buckets: prometheus.LinearBuckets(0.1, 0.1, 10)}),
		pvalues: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "schemacanary_judge_pvalue",
			Help:    "p-values of the judge's one-sided tests, by KPI.",
			Buckets: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1}}, []string{"kpi"}),
		reconcileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "schemacanary_reconcile_duration_seconds",
			Help: "Duration of reconcile passes.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "schemacanary_leader",
			Help: "1 while this replica holds the leader lock."}),
		lastPoll: prometheus.NewGauge(prometheus.GaugeOpts{Name: "schemacanary_last_successful_poll_timestamp_seconds",
			Help: "Unix time of the last reconcile pass without error."}),
		rejections: prometheus.NewCounter(prometheus.CounterOpts{Name: "schemacanary_rejected_files_total",
			Help: "Migration files rejected as bad input."}),
		retrains: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "schemacanary_retrains_total",
			Help: "Model retrainings by result (accepted, rejected, skipped, failed)."}, []string{"result"}),
		holdoutBrier: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "schemacanary_model_holdout_brier",
			Help: "Brier score of the last retraining's champion and challenger on the most recent history (lower is better)."}, []string{"model"}),
		alertEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "schemacanary_alert_events_total",
			Help: "Pipeline events alerts are raised for, by kind (see package notify), whether or not alerts.webhooks are configured."}, []string{"kind"}),
		catchUps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "schemacanary_catchups_total",
			Help: "Catch-ups of targets that joined the fleet after changes were done: changes applied (caught_up), catch-ups stopped by a pre-flight check or an apply (failed), targets found behind but unreachable (unreachable)."}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.changes, m.rollouts, m.rollbacks, m.outcomes, m.confidence, m.pvalues,
		m.reconcileDuration, m.leader, m.lastPoll, m.rejections, m.retrains, m.holdoutBrier, m.alertEvents, m.catchUps,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range change.AllStates {
		m.changes.WithLabelValues(string(s))
	}
	for _, o := range []string{"caught_up", "failed", "unreachable"} {
		m.catchUps.WithLabelValues(o)
	}
	for _, k := range notify.AllKinds() {
		m.alertEvents.WithLabelValues(string(k)) // at 0, so increase() sees the first event
	}
	return m
}

// Registry returns the registry to serve.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) setStates(counts map[change.State]int) {
	for _, s := range change.AllStates {
		m.changes.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
}

// SetLeader records leadership.
func (m *Metrics) SetLeader(on bool) {
	if on {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

// Retrained counts a retraining by result (accepted, rejected, skipped,
// failed).
func (m *Metrics) Retrained(result string) { m.retrains.WithLabelValues(result).Inc() }

// HoldoutBrier records the last retraining's Brier scores of the champion
// and the challenger on the most recent history.
func (m *Metrics) HoldoutBrier(champion, challenger float64) {
	m.holdoutBrier.WithLabelValues("champion").Set(champion)
	m.holdoutBrier.WithLabelValues("challenger").Set(challenger)
}
