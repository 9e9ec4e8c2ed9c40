package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/schemacanary/schemacanary/rollout"
)

// fleetMetrics expose the fleet's resolutions on /metrics: its size and
// the targets that appeared, disappeared, and the resolutions that failed
// (the Resolver logs each of them too).
type fleetMetrics struct {
	size    prometheus.Gauge
	changes *prometheus.CounterVec
}

// newFleetMetrics registers the fleet's metrics on reg.
func newFleetMetrics(reg prometheus.Registerer) *fleetMetrics {
	m := &fleetMetrics{
		size: prometheus.NewGauge(prometheus.GaugeOpts{Name: "schemacanary_fleet_instances",
			Help: "Instances of the fleet in use (the last successful resolution)."}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "schemacanary_fleet_changes_total",
			Help: "Fleet resolutions' outcomes: targets added, targets removed, resolutions failed (the previous fleet kept)."}, []string{"change"}),
	}
	reg.MustRegister(m.size, m.changes)
	for _, c := range []string{"added", "removed", "failed"} {
		m.changes.WithLabelValues(c)
	}
	return m
}

// observe is the Resolver's observer.
func (m *fleetMetrics) observe(c rollout.FleetChange) {
	m.size.Set(float64(c.Size))
	m.changes.WithLabelValues("added").Add(float64(len(c.Added)))
	m.changes.WithLabelValues("removed").Add(float64(len(c.Removed)))
	if c.Err != nil {
		m.changes.WithLabelValues("failed").Inc()
	}
}
