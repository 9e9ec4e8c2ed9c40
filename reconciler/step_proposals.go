package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/gitsrc"
)

// predictProposals analyzes and predicts every migration of every open
// proposal and upserts the proposal's sticky comment. An unchanged proposal
// costs no forge call.
func (r *Reconciler) predictProposals(ctx context.Context, res *Result) error {
	props, err := r.src.Proposals(ctx)
	if err != nil {
		return fmt.Errorf("list proposals: %w", err)
	}
	res.Proposals = len(props)
	open := make(map[string]bool, len(props))
	var errs []error
	for _, p := range props {
		open[proposalKey(p)] = true
		if err := r.predictProposal(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("PR #%d: %w", p.PR, err))
		}
	}
	r.mu.Lock()
	for k := range r.proposals {
		if !open[k] {
			delete(r.proposals, k)
		}
	}
	r.mu.Unlock()
	return errors.Join(errs...)
}

func (r *Reconciler) predictProposal(ctx context.Context, p Proposal) error {
	key := proposalKey(p)
	memo := proposalMemo(p)
	r.mu.Lock()
	seen := r.proposals[key] == memo
	r.mu.Unlock()
	if seen {
		return nil // same head, same files: already predicted and commented
	}
	items := make([]proposalItem, 0, len(p.Migrations))
	for _, m := range p.Migrations {
		actx, cancel := r.analysisContext(ctx)
		a, err := r.assess(actx, m)
		cancel()
		if terr := r.timedOut(ctx, actx, m.Path, err); terr != err {
			// The same files would time out again: not before they change.
			r.mu.Lock()
			r.proposals[key] = memo
			r.mu.Unlock()
			return terr
		}
		if err != nil {
			return err
		}
		if _, err := r.store.SavePrediction(ctx, predictionRecord(m.Version, p.PR, m.SHA256, a)); err != nil {
			return err
		}
		items = append(items, proposalItem{Migration: m, Assessment: a})
	}
	body := renderProposal(items, p.Rejected)
	if r.forge == nil {
		return nil
	}
	ref := gitsrc.ChangeRef{PR: p.PR}
	switch {
	case len(p.Migrations) > 0:
		ref.Version, ref.Path = p.Migrations[0].Version, p.Migrations[0].Path
	case len(p.Rejected) > 0:
		ref.Version, _, _ = migration.ParseVersion(p.Rejected[0].File)
		ref.Path = p.Rejected[0].File
	}
	if err := r.forge.UpsertPrediction(ctx, ref, body); err != nil {
		return fmt.Errorf("sticky comment: %w", err)
	}
	r.mu.Lock()
	r.proposals[key] = memo
	r.mu.Unlock()
	return nil
}

// proposalMemo summarizes what a proposal's comment depends on: its head
// and the content of its files.
func proposalMemo(p Proposal) string {
	var b strings.Builder
	b.WriteString(p.Head)
	for _, m := range p.Migrations {
		b.WriteString("|" + m.Path + "@" + m.SHA256)
	}
	for _, e := range p.Rejected {
		b.WriteString("|" + e.Error())
	}
	return b.String()
}

// proposalKey identifies a proposal across polls.
func proposalKey(p Proposal) string {
	if p.Ref != "" {
		return p.Ref
	}
	return fmt.Sprintf("pr/%d", p.PR)
}
