package notify

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Results of a delivery, the result label of schemacanary_alerts_sent_total.
const (
	resultDelivered = "delivered"
	resultFailed    = "failed"
)

// Reasons an event was dropped, the reason label of
// schemacanary_alerts_dropped_total.
const (
	dropQueueFull = "queue_full"
	dropShutdown  = "shutdown"
)

// metrics are a Dispatcher's collectors, registered on the registry given
// with WithRegisterer (none by default).
type metrics struct {
	sent    *prometheus.CounterVec
	dropped *prometheus.CounterVec
	queued  *prometheus.GaugeVec
}

func newMetrics() *metrics {
	return &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "schemacanary_alerts_sent_total",
			Help: "Alert deliveries by sink and result (delivered: a 2xx response; failed: gave up after max attempts or a permanent refusal)."},
			[]string{"sink", "result"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "schemacanary_alerts_dropped_total",
			Help: "Alerts dropped unsent, by sink and reason (queue_full: the oldest queued alert made room; shutdown: still queued at the flush deadline)."},
			[]string{"sink", "reason"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "schemacanary_alerts_queued",
			Help: "Alerts waiting for delivery, by sink."}, []string{"sink"}),
	}
}

// init creates every sink's series at zero, so increase() sees the first
// failure or drop.
func (m *metrics) init(sink string) {
	m.sent.WithLabelValues(sink, resultDelivered)
	m.sent.WithLabelValues(sink, resultFailed)
	m.dropped.WithLabelValues(sink, dropQueueFull)
	m.dropped.WithLabelValues(sink, dropShutdown)
	m.queued.WithLabelValues(sink)
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.sent, m.dropped, m.queued} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
