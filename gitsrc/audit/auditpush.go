package audit

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// pushBranch publishes one branch with a receive-pack session of its own
// instead of go-git's Remote.Push. go-git decides what to send by walking
// every object reachable from the remote's refs, so each push costs as much
// as the remote's whole history (seconds once the audit branch holds a few
// hundred transitions). The audit branch only ever moves forward by commits
// this process wrote, so the objects to send are exactly the new commits and
// the trees and blobs they changed against their parents: O(change).
//
// The update is a compare-and-swap on the remote's current value: if the
// remote moved to a commit that is not an ancestor of ours, it fails with
// git.ErrNonFastForwardUpdate so the caller refetches and rebuilds.
func pushBranch(ctx context.Context, repo *git.Repository, remoteName string, auth transport.AuthMethod, ref plumbing.ReferenceName, tip plumbing.Hash) error {
	rem, err := repo.Remote(remoteName)
	if err != nil {
		return fmt.Errorf("remote %s: %w", remoteName, err)
	}
	if len(rem.Config().URLs) == 0 {
		return fmt.Errorf("remote %s has no URL", remoteName)
	}
	ep, err := transport.NewEndpoint(rem.Config().URLs[0])
	if err != nil {
		return fmt.Errorf("remote %s: %w", remoteName, err)
	}
	cl, err := client.NewClient(ep)
	if err != nil {
		return fmt.Errorf("remote %s: %w", remoteName, err)
	}
	sess, err := cl.NewReceivePackSession(ep, auth)
	if err != nil {
		return fmt.Errorf("receive-pack session: %w", err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return fmt.Errorf("advertised references: %w", err)
	}
	old := plumbing.ZeroHash
	if ar != nil {
		if h, ok := ar.References[ref.String()]; ok {
			old = h
		}
	}
	if old == tip {
		return nil
	}
	hashes, err := objectsSince(repo, tip, old)
	if err != nil {
		return err
	}
	caps := capability.NewList()
	if ar != nil {
		caps = ar.Capabilities
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(caps)
	req.Commands = []*packp.Command{{Name: ref, Old: old, New: tip}}
	cfg, err := repo.Storer.Config()
	if err != nil {
		return err
	}
	rd, wr := io.Pipe()
	req.Packfile = rd
	done := make(chan error, 1)
	go func() {
		enc := packfile.NewEncoder(wr, repo.Storer, !caps.Supports(capability.OFSDelta))
		if _, err := enc.Encode(hashes, cfg.Pack.Window); err != nil {
			done <- wr.CloseWithError(err)
			return
		}
		done <- wr.Close()
	}()
	rs, err := sess.ReceivePack(ctx, req)
	if err != nil {
		_ = rd.Close() // the receive-pack error is the one to report
		return fmt.Errorf("receive-pack: %w", err)
	}
	if err := <-done; err != nil {
		return fmt.Errorf("encode pack: %w", err)
	}
	if rs != nil {
		if err := rs.Error(); err != nil {
			return fmt.Errorf("receive-pack: %w", err)
		}
	}
	return nil
}

// objectsSince lists the objects of the first-parent chain from tip back to
// (not including) base: each commit, and the trees and blobs it changed
// against its parent. base must be on that chain (ZeroHash: send all of
// it); otherwise the update would not be a fast-forward.
func objectsSince(repo *git.Repository, tip, base plumbing.Hash) ([]plumbing.Hash, error) {
	seen := map[plumbing.Hash]bool{}
	var out []plumbing.Hash
	add := func(h plumbing.Hash) bool {
		if seen[h] {
			return false
		}
		seen[h] = true
		out = append(out, h)
		return true
	}
	for h := tip; h != base; {
		if h.IsZero() {
			return nil, git.ErrNonFastForwardUpdate
		}
		c, err := repo.CommitObject(h)
		if err != nil {
			return nil, fmt.Errorf("push: commit %s: %w", h, err)
		}
		add(c.Hash)
		var parentTree plumbing.Hash
		next := plumbing.ZeroHash
		if c.NumParents() > 0 {
			p, err := c.Parent(0)
			if err != nil {
				return nil, fmt.Errorf("push: parent of %s: %w", h, err)
			}
			parentTree, next = p.TreeHash, p.Hash
		}
		if err := changedObjects(repo, c.TreeHash, parentTree, add); err != nil {
			return nil, err
		}
		h = next
	}
	return out, nil
}

// changedObjects adds tree and every object under it that is not the same
// object at the same path under old (ZeroHash: an empty tree).
func changedObjects(repo *git.Repository, tree, old plumbing.Hash, add func(plumbing.Hash) bool) error {
	if tree == old || !add(tree) {
		return nil
	}
	t, err := repo.TreeObject(tree)
	if err != nil {
		return fmt.Errorf("push: tree %s: %w", tree, err)
	}
	before := map[string]object.TreeEntry{}
	if !old.IsZero() {
		o, err := repo.TreeObject(old)
		if err != nil {
			return fmt.Errorf("push: tree %s: %w", old, err)
		}
		for _, e := range o.Entries {
			before[e.Name] = e
		}
	}
	for _, e := range t.Entries {
		prev := before[e.Name]
		switch {
		case e.Hash == prev.Hash:
		case e.Mode == filemode.Dir:
			if prev.Mode != filemode.Dir {
				prev.Hash = plumbing.ZeroHash
			}
			if err := changedObjects(repo, e.Hash, prev.Hash, add); err != nil {
				return err
			}
		case e.Mode == filemode.Submodule:
			// A gitlink names a commit of another repository: nothing to send.
		default:
			add(e.Hash)
		}
	}
	return nil
}
