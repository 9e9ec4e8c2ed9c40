package app

import (
	"context"
	"time"

	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// Commander records operators' rollout commands (pause, resume, abort,
// promote_now, exclude, include) through reconciler.Command, the one path
// of the CLI and the HTTP API, checking targets against the fleet's
// instances. It is the HTTP API's web.Commander.
type Commander struct {
	Ops reconciler.Operations
	// Targets are the fleet's instance names.
	Targets []string
	// RevertWindow is rollback.revert_window.
	RevertWindow time.Duration
}

// NewCommander returns the Commander over ops for cfg's fleet.
func NewCommander(ops reconciler.Operations, cfg *Config) Commander {
	names := make([]string, 0, len(cfg.Fleet.Instances))
	for _, in := range cfg.Fleet.Instances {
		names = append(names, in.Name)
	}
	return Commander{Ops: ops, Targets: names, RevertWindow: cfg.Rollback.RevertWindow}
}

// Command validates and records a (see reconciler.Command).
func (c Commander) Command(ctx context.Context, a change.OperatorAction) (change.State, change.OperatorAction, error) {
	return reconciler.Command(ctx, c.Ops, a, reconciler.CommandPolicy{Targets: c.Targets, RevertWindow: c.RevertWindow})
}
