package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/schemacanary/schemacanary/gitsrc"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/rollout"
)

// RepoSource is the Source over a gitsrc.Repo mirror.
type RepoSource struct{ Repo *gitsrc.Repo }

var _ reconciler.Source = RepoSource{}

// Sync fetches and returns the watched branch's head.
func (s RepoSource) Sync(ctx context.Context) (string, error) {
	if err := s.Repo.Fetch(ctx); err != nil {
		return "", err
	}
	return s.Repo.Head(ctx)
}

// Merged lists the changes since the cursor.
func (s RepoSource) Merged(ctx context.Context, since, _ string) (*reconciler.MergedSet, error) {
	cs, err := s.Repo.Changes(ctx, since)
	if err != nil {
		return nil, err
	}
	set := &reconciler.MergedSet{Rejected: cs.Errors}
	for _, c := range cs.Changes {
		set.Changes = append(set.Changes, reconciler.Merged{Migration: c.Migration, Commit: c.Commit, Author: c.Author,
			Message: c.Message, PR: c.PR, MergedAt: c.MergedAt})
	}
	return set, nil
}

// Proposals lists open proposals touching the folder.
func (s RepoSource) Proposals(ctx context.Context) ([]reconciler.Proposal, error) {
	ps, err := s.Repo.Proposals(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]reconciler.Proposal, 0, len(ps))
	for _, p := range ps {
		if strings.Contains(p.Ref, "/schemacanary/") {
			continue // our own revert branches are not proposals
		}
		q := reconciler.Proposal{Ref: p.Ref, PR: p.PR, Head: p.Head, Author: p.Author, Rejected: p.Errors}
		for _, c := range p.Changes {
			q.Migrations = append(q.Migrations, c.Migration)
		}
		out = append(out, q)
	}
	return out, nil
}

// CanaryRoller is the Roller over rollout.Canary and a fleet resolved
// again at the start of every Run and every Holdings and Versions read:
// targets that appeared since are included, those that disappeared are
// skipped (the Resolver logs both), and a resolution that fails keeps the
// previous fleet. The reconciler's port stays as it is: resolution is the
// adapter's business.
//
// A target that joins a wave a resumed run has already applied is caught
// up by the run itself (rollout.Canary.Run); one that joins after changes
// are done is caught up by the reconciler's catch-up step through CatchUp.
type CanaryRoller struct {
	Canary *rollout.Canary
	Fleet  *rollout.Resolver
}

var _ reconciler.Roller = CanaryRoller{}

// Run implements Roller.
func (r CanaryRoller) Run(ctx context.Context, ch *rollout.Plan, resume *rollout.Checkpoint, save func(rollout.Checkpoint), repredict rollout.Repredictor, ctl rollout.Controls) (*rollout.Result, error) {
	if save == nil {
		return nil, fmt.Errorf("rollout %d: no checkpoint function", ch.Version)
	}
	fleet, err := r.Fleet.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("rollout %d: %w", ch.Version, err)
	}
	return r.Canary.Run(ctx, fleet, ch, resume, rollout.OnCheckpoint(save), rollout.Repredicting(repredict), rollout.Controlled(ctl))
}

// Holdings implements Roller.
func (r CanaryRoller) Holdings(ctx context.Context, version int64) (reconciler.Holdings, error) {
	fleet, err := r.Fleet.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	return reconciler.HoldingsOf(version, r.Canary.States(ctx, fleet, version)), nil
}

// Versions implements Roller.
func (r CanaryRoller) Versions(ctx context.Context, skip func(instance string) bool) (reconciler.Holdings, error) {
	fleet, err := r.Fleet.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	h := reconciler.Holdings{}
	for _, iv := range r.Canary.GooseVersions(ctx, fleet, skip) {
		if iv.Err != nil {
			h[iv.Instance] = reconciler.Unreachable
		} else {
			h[iv.Instance] = iv.Version
		}
	}
	return h, nil
}

// CatchUp implements Roller on the instance of that name in the fleet
// resolved last (by the Versions read that found it behind).
func (r CanaryRoller) CatchUp(ctx context.Context, instance string, steps []rollout.CatchUpStep) (*rollout.CatchUpResult, error) {
	fleet := r.Fleet.Last()
	if fleet == nil {
		var err error
		if fleet, err = r.Fleet.Resolve(ctx); err != nil {
			return nil, err
		}
	}
	for _, in := range fleet.Instances {
		if in.Name == instance {
			return r.Canary.CatchUp(ctx, in, steps)
		}
	}
	return nil, fmt.Errorf("catch up %s: no such instance in the fleet", instance)
}
