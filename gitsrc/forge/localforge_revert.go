package forge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/schemacanary/schemacanary/gitsrc"
	"github.com/schemacanary/schemacanary/gitsrc/audit"
)

// OpenRevert creates refs/heads/schemacanary/revert-<version> with one
// commit that reverts the merge on top of the watched branch, and pushes it
// to the remote. When the branch exists (locally or on the remote) it is
// reused as is, so a second call returns the same commit.
func (f *LocalForge) OpenRevert(ctx context.Context, req RevertRequest) (*Revert, error) {
	ref := req.Change
	if ref.Version <= 0 || ref.MergeCommit == "" {
		return nil, errors.New("open revert: change version and merge commit are required")
	}
	branch := RevertBranch(ref.Version)
	local := plumbing.NewBranchReferenceName(branch)
	out := &Revert{Branch: branch, URL: f.remoteURL(branch)}
	if existing, err := f.repo.Storer.Reference(local); err == nil {
		out.Commit = existing.Hash().String()
		return out, f.pushBranch(ctx, local)
	}
	if f.remote != "" {
		tracking := gitsrc.TrackingRef(f.remote, branch)
		ok, err := f.fetch(ctx, local, tracking)
		if err != nil {
			return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
		}
		if ok {
			r, err := f.repo.Storer.Reference(tracking)
			if err != nil {
				return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
			}
			if err := f.repo.Storer.SetReference(plumbing.NewHashReference(local, r.Hash())); err != nil {
				return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
			}
			out.Commit = r.Hash().String()
			return out, nil
		}
	}
	head, err := f.watchedHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
	}
	merge, err := f.repo.CommitObject(plumbing.NewHash(ref.MergeCommit))
	if err != nil {
		return nil, fmt.Errorf("open revert %d: merge commit %s: %w", ref.Version, ref.MergeCommit, err)
	}
	edits, err := revertEdits(merge, head)
	if err != nil {
		return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
	}
	headTree, err := head.Tree()
	if err != nil {
		return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
	}
	st := f.repo.Storer
	tree, err := gitsrc.PutTree(st, headTree, edits)
	if err != nil {
		return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
	}
	msg := revertMessage(req, merge)
	name, email := f.audit.Author()
	sig := audit.Signature(name, email, f.now())
	h, err := gitsrc.PutCommit(st, tree, []plumbing.Hash{head.Hash}, msg, sig)
	if err != nil {
		return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
	}
	if err := st.SetReference(plumbing.NewHashReference(local, h)); err != nil {
		return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
	}
	out.Commit = h.String()
	if err := f.pushBranch(ctx, local); err != nil {
		return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
	}
	f.log.Info("revert branch created", "change", ref.Version, "branch", branch, "commit", h.String(), "remote", f.remote)
	return out, nil
}

// revertMessage is the commit message of a revert, in `git revert`'s shape.
func revertMessage(req RevertRequest, merge *object.Commit) string {
	subject, _, _ := strings.Cut(merge.Message, "\n")
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nRevert %q\n\nThis reverts commit %s.\n", revertTitle(req), subject, merge.Hash)
	if body := strings.TrimSpace(req.Body); body != "" {
		b.WriteString("\n" + body + "\n")
	}
	fmt.Fprintf(&b, "\n%s: %d\n", audit.TrailerVersion, req.Change.Version)
	return b.String()
}

// revertEdits returns the tree edits that undo merge (relative to its first
// parent) on head. A file the merge changed that head changed again is a
// conflict (ErrRevertConflict); a file head already restored is left as is.
func revertEdits(merge, head *object.Commit) (map[string]gitsrc.TreeChange, error) {
	mergeTree, err := merge.Tree()
	if err != nil {
		return nil, err
	}
	var parentTree *object.Tree
	if merge.NumParents() > 0 {
		p, err := merge.Parent(0)
		if err != nil {
			return nil, err
		}
		if parentTree, err = p.Tree(); err != nil {
			return nil, err
		}
	}
	headTree, err := head.Tree()
	if err != nil {
		return nil, err
	}
	diff, err := object.DiffTree(parentTree, mergeTree)
	if err != nil {
		return nil, err
	}
	edits := map[string]gitsrc.TreeChange{}
	var conflicts []string
	for _, d := range diff {
		path := d.To.Name
		if path == "" {
			path = d.From.Name
		}
		was, hadWas := gitsrc.TreeFileEntry(parentTree, path)
		became, hadBecame := gitsrc.TreeFileEntry(mergeTree, path)
		now, hasNow := gitsrc.TreeFileEntry(headTree, path)
		switch {
		case hasNow == hadWas && (!hasNow || now.Hash == was.Hash):
			// head already has the parent's version.
		case hasNow == hadBecame && (!hasNow || now.Hash == became.Hash):
			if hadWas {
				edits[path] = gitsrc.TreeChange{Hash: was.Hash, Mode: was.Mode}
			} else {
				edits[path] = gitsrc.TreeChange{Delete: true}
			}
		default:
			conflicts = append(conflicts, path)
		}
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("%w: %s changed again after %s", ErrRevertConflict, strings.Join(conflicts, ", "), merge.Hash)
	}
	return edits, nil
}

// reverted reports whether head has every file merge changed back at the
// merge's first parent's version.
func reverted(merge, head *object.Commit) (bool, error) {
	edits, err := revertEdits(merge, head)
	if errors.Is(err, ErrRevertConflict) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return len(edits) == 0, nil
}

// RevertMerged fetches the watched branch and reports whether it contains
// the revert commit or no longer has the merge's changes (a squash-merged
// or hand-made revert counts too).
func (f *LocalForge) RevertMerged(ctx context.Context, ref ChangeRef) (bool, error) {
	head, err := f.watchedHead(ctx)
	if err != nil {
		return false, fmt.Errorf("revert merged %d: %w", ref.Version, err)
	}
	if r, err := f.repo.Storer.Reference(plumbing.NewBranchReferenceName(RevertBranch(ref.Version))); err == nil {
		if r.Hash() == head.Hash {
			return true, nil
		}
		if c, err := f.repo.CommitObject(r.Hash()); err == nil {
			if ok, err := c.IsAncestor(head); err == nil && ok {
				return true, nil
			}
		}
	}
	if ref.MergeCommit == "" {
		if ref.Path == "" {
			return false, fmt.Errorf("revert merged %d: merge commit or path required", ref.Version)
		}
		t, err := head.Tree()
		if err != nil {
			return false, fmt.Errorf("revert merged %d: %w", ref.Version, err)
		}
		_, has := gitsrc.TreeFileEntry(t, ref.Path)
		return !has, nil
	}
	merge, err := f.repo.CommitObject(plumbing.NewHash(ref.MergeCommit))
	if err != nil {
		return false, fmt.Errorf("revert merged %d: merge commit %s: %w", ref.Version, ref.MergeCommit, err)
	}
	ok, err := reverted(merge, head)
	if err != nil {
		return false, fmt.Errorf("revert merged %d: %w", ref.Version, err)
	}
	return ok, nil
}

// watchedHead fetches the watched branch (with a remote) and returns its
// tip: the remote-tracking ref when there is a remote, else the local
// branch.
func (f *LocalForge) watchedHead(ctx context.Context) (*object.Commit, error) {
	name := plumbing.NewBranchReferenceName(f.branch)
	if f.remote != "" {
		tracking := gitsrc.TrackingRef(f.remote, f.branch)
		ok, err := f.fetch(ctx, name, tracking)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("branch %s not found on %s", f.branch, f.remote)
		}
		name = tracking
	}
	r, err := f.repo.Storer.Reference(name)
	if err != nil {
		return nil, fmt.Errorf("branch %s: %w", name, err)
	}
	c, err := f.repo.CommitObject(r.Hash())
	if err != nil {
		return nil, fmt.Errorf("branch %s: %w", name, err)
	}
	return c, nil
}

// fetch fetches the remote's src into dst; ok is false when the remote
// has no such ref.
func (f *LocalForge) fetch(ctx context.Context, src, dst plumbing.ReferenceName) (bool, error) {
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", src, dst))
	err := f.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: f.remote, RefSpecs: []config.RefSpec{spec}, Auth: f.auth})
	var noMatch git.NoMatchingRefSpecError
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return true, nil
	case errors.As(err, &noMatch):
		return false, nil
	default:
		return false, fmt.Errorf("fetch %s from %s: %w", src, f.remote, err)
	}
}

func (f *LocalForge) pushBranch(ctx context.Context, ref plumbing.ReferenceName) error {
	if f.remote == "" {
		return nil
	}
	spec := config.RefSpec(fmt.Sprintf("%s:%s", ref, ref))
	err := f.repo.PushContext(ctx, &git.PushOptions{RemoteName: f.remote, RefSpecs: []config.RefSpec{spec}, Auth: f.auth})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("push %s to %s: %w", ref.Short(), f.remote, err)
	}
	return nil
}

func (f *LocalForge) remoteURL(branch string) string {
	if f.remote == "" {
		return ""
	}
	r, err := f.repo.Remote(f.remote)
	if err != nil || len(r.Config().URLs) == 0 {
		return ""
	}
	return r.Config().URLs[0] + "#" + branch
}
