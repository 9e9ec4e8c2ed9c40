package app

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/rollout"
)

// Commander records operators' rollout commands (pause, resume, abort,
// promote_now, exclude, include) through reconciler.Command, the one path
// of the CLI and the HTTP API, checking targets against the fleet's
// instances. It is the HTTP API's web.Commander.
type Commander struct {
	Ops reconciler.Operations
	// Targets are the fleet's static instance names.
	Targets []string
	// Fleet, when set, adds the names of the fleet it resolved last (the
	// daemon's), or, before any resolution (the CLI), of one resolution
	// made for the command; a failed resolution leaves Targets alone.
	Fleet *rollout.Resolver
	// RevertWindow is rollback.revert_window.
	RevertWindow time.Duration
}

// NewCommander returns the Commander over ops for cfg's fleet: its static
// instances, and, with fleet.inventory or fleet.files, a Resolver for the
// others (Build gives the daemon's own instead).
func NewCommander(ops reconciler.Operations, cfg *Config) Commander {
	names := make([]string, 0, len(cfg.Fleet.Instances))
	for _, in := range cfg.Fleet.Instances {
		names = append(names, in.Name)
	}
	c := Commander{Ops: ops, Targets: names, RevertWindow: cfg.Rollback.RevertWindow}
	if cfg.Fleet.Inventory != nil || cfg.Fleet.Files != "" {
		// A resolver that cannot be built leaves Fleet nil: targets are
		// then checked against the static instances only.
		c.Fleet, _ = rollout.NewResolver(cfg.Fleet, rollout.WithResolverLogger(slog.New(slog.DiscardHandler)))
	}
	return c
}

// targets lists the names an exclude or include may name.
func (c Commander) targets(ctx context.Context) []string {
	if c.Fleet == nil {
		return c.Targets
	}
	fl := c.Fleet.Last()
	if fl == nil {
		fl, _ = c.Fleet.Resolve(ctx)
	}
	if fl == nil {
		return c.Targets
	}
	names := append([]string(nil), c.Targets...)
	for _, in := range fl.Instances {
		if !slices.Contains(names, in.Name) {
			names = append(names, in.Name)
		}
	}
	return names
}

// Command validates and records a (see reconciler.Command).
func (c Commander) Command(ctx context.Context, a change.OperatorAction) (change.State, change.OperatorAction, error) {
	return reconciler.Command(ctx, c.Ops, a, reconciler.CommandPolicy{Targets: c.targets(ctx), RevertWindow: c.RevertWindow})
}
