package app

import (
	"context"
	"fmt"
	"log/slog"
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
// again at the start of every Run and every Holdings read: targets that
// appeared since are included, those that disappeared are skipped (the
// Resolver logs both), and a resolution that fails keeps the previous
// fleet. The reconciler's port stays as it is: resolution is the
// adapter's business.
//
// A run resumed after the fleet changed may find targets planned in a wave
// it has already applied (they joined since, or moved at a wave's edge):
// the run does not go back to them, so the adapter logs each one (WARN
// "target joined a wave already applied") for an operator to bring up.
type CanaryRoller struct {
	Canary *rollout.Canary
	Fleet  *rollout.Resolver
	// Log receives the warnings above; nil: slog.Default().
	Log *slog.Logger
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
	r.reportMissed(ctx, fleet, ch, resume)
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

// reportMissed logs the targets a run resumed from resume will not change.
func (r CanaryRoller) reportMissed(ctx context.Context, fleet *rollout.Fleet, ch *rollout.Plan, resume *rollout.Checkpoint) {
	if resume == nil || resume.Version != ch.Version {
		return
	}
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	missed, err := r.Canary.Missed(ctx, fleet, resume)
	if err != nil {
		log.Warn("cannot tell which targets joined a wave already applied", "change", ch.Version, "err", err)
	}
	for _, in := range missed {
		log.Warn("target joined a wave already applied: this rollout will not change it; bring it up to the fleet's version",
			"change", ch.Version, "instance", in.Name, "phase", resume.Phase, "wave", resume.Wave)
	}
}
