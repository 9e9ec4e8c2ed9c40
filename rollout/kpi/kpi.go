package kpi

import (
	"context"
	"errors"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"
)

// Target names one database instance and how a KPI source reaches it.
type Target struct {
	// Instance is the fleet instance name; it labels every sample and
	// replaces $instance in Prometheus queries (unless Labels["instance"]
	// is set).
	Instance string
	// DSN is the connection string (a secret: sources never log it).
	DSN string
	// DataDir is the data directory of a local cluster, for the proc
	// source; when empty, proc asks the server (SHOW data_directory).
	DataDir string
	// Labels are extra template values for Prometheus queries: "$name" in
	// a query is replaced by Labels["name"].
	Labels map[string]string
	// Schema is a schema-per-tenant target's schema: probes run with
	// search_path set to it, so their unqualified SQL reads the tenant's
	// tables. pgstat and proc read the whole database (and server), which
	// the tenant shares with the others there.
	Schema string
}

// KPISource measures KPIs on one instance over a time window. It is the
// boundary between the canary and the measuring (argo-rollouts' metric
// provider): implementations are safe for concurrent use by several targets.
//
// Collect returns the samples observed on target with At in [from, to).
// When to lies in the future Collect blocks until then (or until ctx is
// done): active sources (probe) measure during the wait, passive ones
// (pgstat, proc) snapshot their cumulative counters at from and at to.
// Collect is idempotent: asking again for a window already collected
// returns the stored samples (see SampleStore) without measuring again, so
// a canary can be resumed after a restart. A window that lies wholly in the
// past and was never collected returns ErrWindowLost from sources that
// cannot look back (all but prometheus); the caller moves on to the next
// window.
type KPISource interface {
	// Name identifies the source in logs and verdicts ("pgstat", "probe",
	// "proc", "prometheus").
	Name() string
	// Collect measures target over [from, to).
	Collect(ctx context.Context, target Target, from, to time.Time) ([]judge.Sample, error)
}

// ErrWindowLost is returned by Collect for a past window that was never
// measured by a source that cannot look back in time.
var ErrWindowLost = errors.New("kpi window lies in the past and was not collected")

// ErrBadConfig is wrapped by source, canary and judge constructors on
// invalid options (the judge's own, so errors.Is matches either).
var ErrBadConfig = judge.ErrBadConfig
