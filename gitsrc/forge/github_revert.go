package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/schemacanary/schemacanary/gitsrc/audit"
)

// revertPRMarker identifies the body of a revert pull request.
func revertPRMarker(version int64) string {
	return fmt.Sprintf("<!-- schemacanary:revert version=%d -->", version)
}

// blobState is one file of a tree as the Git Data API lists it.
type blobState struct{ sha, mode string }

// OpenRevert makes the revert through the Git Data API: it reads the trees
// of the merge, its first parent and the watched branch's head, creates a
// tree = head with the merge's files set back to the parent's version, a
// commit with that tree on top of head, the ref
// refs/heads/schemacanary/revert-<version>, and then a pull request to the
// watched branch. An existing ref is reused and an existing pull request
// from it (open or closed) is returned, so a second call creates nothing.
func (g *GitHub) OpenRevert(ctx context.Context, req RevertRequest) (*Revert, error) {
	ref := req.Change
	if ref.Version <= 0 || ref.MergeCommit == "" {
		return nil, errors.New("open revert: change version and merge commit are required")
	}
	branch := RevertBranch(ref.Version)
	sha, found, err := g.refSHA(ctx, "heads/"+branch)
	if err != nil {
		return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
	}
	if !found {
		if sha, err = g.createRevertCommit(ctx, req); err != nil {
			return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
		}
		err := g.call(ctx, "create ref", func() (*github.Response, error) {
			_, resp, err := g.client.Git.CreateRef(ctx, g.owner, g.repo, &github.Reference{
				Ref: github.String("refs/heads/" + branch), Object: &github.GitObject{SHA: github.String(sha)}})
			return resp, err
		})
		if isStatus(err, http.StatusUnprocessableEntity) {
			// Created concurrently (or by a run that crashed after it): use it.
			if sha, found, err = g.refSHA(ctx, "heads/"+branch); err == nil && !found {
				err = fmt.Errorf("ref %s vanished", branch)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("open revert %d: create ref %s: %w", ref.Version, branch, err)
		}
		g.log.Info("revert branch created", "change", ref.Version, "branch", branch, "commit", sha)
	}
	out := &Revert{Branch: branch, Commit: sha}
	pr, err := g.revertPR(ctx, branch)
	if err != nil {
		return nil, fmt.Errorf("open revert %d: %w", ref.Version, err)
	}
	if pr == nil {
		body := revertPRMarker(ref.Version) + "\n" + strings.TrimSpace(req.Body) +
			fmt.Sprintf("\n\nThis reverts %s (migration `%s`, version %d).", ref.MergeCommit, ref.Path, ref.Version)
		if ref.PR > 0 {
			body += fmt.Sprintf(" Original pull request: #%d.", ref.PR)
		}
		err := g.call(ctx, "create pull request", func() (*github.Response, error) {
			var resp *github.Response
			var err error
			pr, resp, err = g.client.PullRequests.Create(ctx, g.owner, g.repo, &github.NewPullRequest{
				Title: github.String(revertTitle(req)), Head: github.String(branch), Base: github.String(g.branch),
				Body: github.String(body), MaintainerCanModify: github.Bool(true)})
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("open revert %d: create pull request: %w", ref.Version, err)
		}
		g.log.Info("revert pull request opened", "change", ref.Version, "pr", pr.GetNumber(), "url", pr.GetHTMLURL())
	}
	out.PR, out.URL = pr.GetNumber(), pr.GetHTMLURL()
	return out, nil
}

// RevertMerged reports whether the revert pull request of ref was merged,
// or the watched branch no longer has ref.Path (reverted by other means).
func (g *GitHub) RevertMerged(ctx context.Context, ref ChangeRef) (bool, error) {
	pr, err := g.revertPR(ctx, RevertBranch(ref.Version))
	if err != nil {
		return false, fmt.Errorf("revert merged %d: %w", ref.Version, err)
	}
	if pr != nil && pr.MergedAt != nil {
		return true, nil
	}
	if ref.Path == "" {
		return false, nil
	}
	err = g.call(ctx, "get contents", func() (*github.Response, error) {
		_, _, resp, err := g.client.Repositories.GetContents(ctx, g.owner, g.repo, ref.Path, &github.RepositoryContentGetOptions{Ref: g.branch})
		return resp, err
	})
	if isStatus(err, http.StatusNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("revert merged %d: %w", ref.Version, err)
	}
	return false, nil
}

// revertPR returns the newest pull request (any state) from branch into
// the watched branch, or nil.
func (g *GitHub) revertPR(ctx context.Context, branch string) (*github.PullRequest, error) {
	var prs []*github.PullRequest
	err := g.call(ctx, "list pull requests", func() (*github.Response, error) {
		var resp *github.Response
		var err error
		prs, resp, err = g.client.PullRequests.List(ctx, g.owner, g.repo, &github.PullRequestListOptions{
			State: "all", Head: g.owner + ":" + branch, Base: g.branch, ListOptions: github.ListOptions{PerPage: 100}})
		return resp, err
	})
	if err != nil {
		return nil, fmt.Errorf("list pull requests from %s: %w", branch, err)
	}
	var best *github.PullRequest
	for _, p := range prs {
		if p.GetHead().GetRef() != branch && p.GetHead().GetRef() != "" {
			continue
		}
		if best == nil || p.GetNumber() > best.GetNumber() {
			best = p
		}
	}
	return best, nil
}

// refSHA returns the commit a ref ("heads/main") points at.
func (g *GitHub) refSHA(ctx context.Context, name string) (string, bool, error) {
	var r *github.Reference
	err := g.call(ctx, "get ref", func() (*github.Response, error) {
		var resp *github.Response
		var err error
		r, resp, err = g.client.Git.GetRef(ctx, g.owner, g.repo, name)
		return resp, err
	})
	if isStatus(err, http.StatusNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get ref %s: %w", name, err)
	}
	return r.GetObject().GetSHA(), true, nil
}

func (g *GitHub) commit(ctx context.Context, sha string) (*github.Commit, error) {
	var c *github.Commit
	err := g.call(ctx, "get commit", func() (*github.Response, error) {
		var resp *github.Response
		var err error
		c, resp, err = g.client.Git.GetCommit(ctx, g.owner, g.repo, sha)
		return resp, err
	})
	if err != nil {
		return nil, fmt.Errorf("get commit %s: %w", sha, err)
	}
	return c, nil
}

// blobs lists the files of a tree (recursively).
func (g *GitHub) blobs(ctx context.Context, treeSHA string) (map[string]blobState, error) {
	var t *github.Tree
	err := g.call(ctx, "get tree", func() (*github.Response, error) {
		var resp *github.Response
		var err error
		t, resp, err = g.client.Git.GetTree(ctx, g.owner, g.repo, treeSHA, true)
		return resp, err
	})
	if err != nil {
		return nil, fmt.Errorf("get tree %s: %w", treeSHA, err)
	}
	if t.GetTruncated() {
		return nil, fmt.Errorf("tree %s is too large for one API response", treeSHA)
	}
	out := map[string]blobState{}
	for _, e := range t.Entries {
		if e.GetType() == "blob" {
			out[e.GetPath()] = blobState{sha: e.GetSHA(), mode: e.GetMode()}
		}
	}
	return out, nil
}

// createRevertCommit builds the revert commit on the watched branch's head
// and returns its SHA.
func (g *GitHub) createRevertCommit(ctx context.Context, req RevertRequest) (string, error) {
	headSHA, found, err := g.refSHA(ctx, "heads/"+g.branch)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("branch %s not found", g.branch)
	}
	head, err := g.commit(ctx, headSHA)
	if err != nil {
		return "", err
	}
	merge, err := g.commit(ctx, req.Change.MergeCommit)
	if err != nil {
		return "", err
	}
	mergeFiles, err := g.blobs(ctx, merge.GetTree().GetSHA())
	if err != nil {
		return "", err
	}
	parentFiles := map[string]blobState{}
	if len(merge.Parents) > 0 {
		parent, err := g.commit(ctx, merge.Parents[0].GetSHA())
		if err != nil {
			return "", err
		}
		if parentFiles, err = g.blobs(ctx, parent.GetTree().GetSHA()); err != nil {
			return "", err
		}
	}
	headFiles, err := g.blobs(ctx, head.GetTree().GetSHA())
	if err != nil {
		return "", err
	}
	edits, err := revertPlan(parentFiles, mergeFiles, headFiles)
	if err != nil {
		return "", fmt.Errorf("%w (after %s)", err, req.Change.MergeCommit)
	}
	treeSHA := head.GetTree().GetSHA()
	if len(edits) > 0 {
		var t *github.Tree
		err := g.call(ctx, "create tree", func() (*github.Response, error) {
			var resp *github.Response
			var err error
			t, resp, err = g.client.Git.CreateTree(ctx, g.owner, g.repo, treeSHA, edits)
			return resp, err
		})
		if err != nil {
			return "", fmt.Errorf("create tree: %w", err)
		}
		treeSHA = t.GetSHA()
	}
	subject, _, _ := strings.Cut(merge.GetMessage(), "\n")
	msg := fmt.Sprintf("%s\n\nRevert %q\n\nThis reverts commit %s.\n\n%s: %d\n", revertTitle(req), subject, merge.GetSHA(), audit.TrailerVersion, req.Change.Version)
	var c *github.Commit
	err = g.call(ctx, "create commit", func() (*github.Response, error) {
		var resp *github.Response
		var err error
		c, resp, err = g.client.Git.CreateCommit(ctx, g.owner, g.repo, &github.Commit{
			Message: github.String(msg), Tree: &github.Tree{SHA: github.String(treeSHA)},
			Parents: []*github.Commit{{SHA: github.String(headSHA)}}}, nil)
		return resp, err
	})
	if err != nil {
		return "", fmt.Errorf("create commit: %w", err)
	}
	return c.GetSHA(), nil
}

// revertPlan returns the tree entries that set every file the merge changed
// (parent -> merge) back to the parent's version on head (a nil SHA
// deletes). A file head changed again is a conflict.
func revertPlan(parent, merge, head map[string]blobState) ([]*github.TreeEntry, error) {
	paths := map[string]bool{}
	for p, b := range merge {
		if parent[p] != b {
			paths[p] = true
		}
	}
	for p := range parent {
		if _, ok := merge[p]; !ok {
			paths[p] = true
		}
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var edits []*github.TreeEntry
	var conflicts []string
	for _, p := range sorted {
		was, hadWas := parent[p]
		became, hadBecame := merge[p]
		now, hasNow := head[p]
		switch {
		case hasNow == hadWas && (!hasNow || now == was):
		case hasNow == hadBecame && (!hasNow || now == became):
			e := &github.TreeEntry{Path: github.String(p), Type: github.String("blob"), Mode: github.String(became.mode)}
			if hadWas {
				e.SHA, e.Mode = github.String(was.sha), github.String(was.mode)
			}
			edits = append(edits, e)
		default:
			conflicts = append(conflicts, p)
		}
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("%w: %s changed again", ErrRevertConflict, strings.Join(conflicts, ", "))
	}
	return edits, nil
}

func isStatus(err error, code int) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == code
}
