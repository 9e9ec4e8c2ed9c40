package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// ingest fetches the repository and records every migration merged since the
// cursor as a change request (state discovered), and every rejected file as a
// rejection. The cursor moves only after all of them are stored, so a crash
// re-ingests the same commits, which Discover and Reject ignore.
func (r *Reconciler) ingest(ctx context.Context, res *Result) error {
	head, err := r.src.Sync(ctx)
	if err != nil {
		return fmt.Errorf("sync repository: %w", err)
	}
	res.Head = head
	since, err := r.store.Cursor(ctx)
	if err != nil {
		return err
	}
	if since == head {
		return nil
	}
	set, err := r.src.Merged(ctx, since, head)
	if err != nil {
		return fmt.Errorf("changes %s..%s: %w", change.ShortCommit(since), change.ShortCommit(head), err)
	}
	for _, m := range set.Changes {
		mig := m.Migration
		cr := &change.Request{
			Version: mig.Version, Name: mig.Name, Path: mig.Path, SHA256: mig.SHA256, Commit: m.Commit,
			Author: m.Author, Message: m.Message, PR: m.PR, MergedAt: m.MergedAt, Risk: mig.FrontMatter.Risk,
			Source: mig.Source, Migration: mig,
		}
		created, err := r.store.Discover(ctx, cr)
		if err != nil {
			return err
		}
		if created {
			res.Discovered++
			r.o.log.Info("change discovered", "change", cr.Version, "path", cr.Path, "commit", change.ShortCommit(cr.Commit), "pr", cr.PR)
		}
	}
	for _, me := range set.Rejected {
		rej := rejectionOf(me, head)
		if errors.Is(me, migration.ErrDeleted) && rej.Version > 0 {
			// The merged revert of a rolled back change deletes its file.
			if c, err := r.store.Get(ctx, rej.Version); err == nil && (c.State.Holding() || c.State == change.StateReverted) {
				continue
			}
		}
		created, err := r.store.Reject(ctx, rej)
		if err != nil {
			return err
		}
		if created {
			res.Rejected++
			r.o.log.Warn("migration rejected", "file", me.File, "line", me.Line, "err", me.Error())
			if r.o.metrics != nil {
				r.o.metrics.rejections.Inc()
			}
		}
	}
	return r.store.SetCursor(ctx, head)
}

// rejectionOf turns a parse/validation error into a stored rejection.
func rejectionOf(me *migration.MigrationError, commit string) change.Rejection {
	kind := "invalid"
	for _, k := range []error{migration.ErrFrontMatter, migration.ErrGooseSyntax, migration.ErrMissingDown, migration.ErrGoMigration,
		migration.ErrBadFilename, migration.ErrDuplicateVersion, migration.ErrOutOfOrder, migration.ErrChecksumDrift, migration.ErrDeleted} {
		if errors.Is(me, k) {
			kind = k.Error()
			break
		}
	}
	v, _, _ := migration.ParseVersion(me.File)
	sum := sha256.Sum256([]byte(me.Error()))
	return change.Rejection{Path: me.File, SHA256: hex.EncodeToString(sum[:8]), Kind: kind, Version: v, Line: me.Line, Message: me.Error(), Commit: commit}
}
