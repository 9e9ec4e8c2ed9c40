package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

var refusalRE = regexp.MustCompile(`<!-- schemacanary:refusal comment=\d+ -->`)

// refusalMarker marks the reply that refuses the approval in comment id.
func refusalMarker(id int64) string {
	return fmt.Sprintf("<!-- schemacanary:refusal comment=%d -->", id)
}

// parseApprove returns the reason of a "/schemacanary approve [reason]"
// comment; ok is false for any other comment.
func parseApprove(body string) (reason string, ok bool) {
	first, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
	first = strings.TrimSpace(first)
	rest, found := strings.CutPrefix(first, ApproveCommand)
	if !found || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

// Approvals reads the "/schemacanary approve [reason]" comments on the pull
// request that really merged ref.MergeCommit, as GitHub's "list pull
// requests associated with a commit" says (never the "(#N)" of a commit
// message, which anyone can write). An approval counts when its author has
// write or admin permission (maintain included) and it was made (or last
// edited) after the last push to that pull request: the committer date of
// its newest commit. Anything else is listed with Allowed false and Why,
// and its author gets one reply saying why; the reply is found again by a
// hidden marker, so repeated calls do not reply twice. Without a merge
// commit, or when no merged pull request holds it, there is nothing to
// approve on GitHub (use `schemacanary approve`).
func (g *GitHub) Approvals(ctx context.Context, ref ChangeRef) ([]Approval, error) {
	if ref.MergeCommit == "" {
		return nil, nil
	}
	pr, lastPush, err := g.mergedPull(ctx, ref.MergeCommit)
	if err != nil {
		return nil, fmt.Errorf("approvals %d: %w", ref.Version, err)
	}
	if pr == 0 {
		g.log.Info("no merged pull request holds the change's merge commit; approve it with schemacanary approve", "change", ref.Version, "commit", ref.MergeCommit)
		return nil, nil
	}
	cs, err := g.comments(ctx, pr)
	if err != nil {
		return nil, fmt.Errorf("approvals %d: %w", ref.Version, err)
	}
	replied := map[string]bool{}
	for _, c := range cs {
		for _, m := range refusalRE.FindAllString(c.GetBody(), -1) {
			replied[m] = true
		}
	}
	perms := map[string]string{}
	var out []Approval
	for _, c := range cs {
		body := c.GetBody()
		if strings.Contains(body, "<!-- schemacanary:") {
			continue // our own comments
		}
		reason, ok := parseApprove(body)
		if !ok {
			continue
		}
		login := c.GetUser().GetLogin()
		perm, seen := perms[login]
		if !seen {
			if perm, err = g.permission(ctx, login); err != nil {
				return nil, fmt.Errorf("approvals %d: %w", ref.Version, err)
			}
			perms[login] = perm
		}
		at := c.GetCreatedAt().Time.UTC()
		if u := c.GetUpdatedAt().Time.UTC(); u.After(at) {
			at = u // an edited comment speaks from its edit
		}
		ap := Approval{By: login, At: at, Reason: reason, Permission: perm, PR: pr}
		switch {
		case perm != "admin" && perm != "write" && perm != "maintain":
			ap.Why = fmt.Sprintf("only collaborators with write or admin permission on %s/%s can approve a schemacanary change; your permission is %q", g.owner, g.repo, perm)
		case !at.After(lastPush):
			ap.Why = fmt.Sprintf("it was made at %s, not after the last push to #%d (%s): comment again to approve what was merged", at.Format(time.RFC3339), pr, lastPush.Format(time.RFC3339))
		default:
			ap.Allowed = true
		}
		out = append(out, ap)
		if ap.Allowed {
			continue
		}
		marker := refusalMarker(c.GetID())
		if replied[marker] {
			continue
		}
		msg := fmt.Sprintf("%s\n@%s, this approval of migration %d is ignored: %s.", marker, login, ref.Version, ap.Why)
		if _, err := g.createComment(ctx, pr, msg); err != nil {
			return nil, fmt.Errorf("approvals %d: refuse %s: %w", ref.Version, login, err)
		}
		replied[marker] = true
		g.log.Warn("approval refused", "change", ref.Version, "pr", pr, "by", login, "why", ap.Why)
	}
	return out, nil
}

// mergedPull finds the merged pull request that holds commit sha (GitHub's
// "list pull requests associated with a commit") and the time of its last
// push: the newest committer date among its commits. It returns 0 when no
// merged pull request holds the commit.
func (g *GitHub) mergedPull(ctx context.Context, sha string) (int, time.Time, error) {
	var prs []*github.PullRequest
	err := g.call(ctx, "pulls of commit", func() (*github.Response, error) {
		var resp *github.Response
		var err error
		prs, resp, err = g.client.PullRequests.ListPullRequestsWithCommit(ctx, g.owner, g.repo, sha, &github.ListOptions{PerPage: 100})
		return resp, err
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("pull requests of commit %s: %w", sha, err)
	}
	number := 0
	for _, p := range prs {
		if p.MergedAt == nil {
			continue
		}
		if p.GetMergeCommitSHA() == sha || number == 0 {
			number = p.GetNumber()
		}
	}
	if number == 0 {
		return 0, time.Time{}, nil
	}
	var last time.Time
	opts := &github.ListOptions{PerPage: 100}
	for {
		var page []*github.RepositoryCommit
		var resp *github.Response
		err := g.call(ctx, "pull request commits", func() (*github.Response, error) {
			var err error
			page, resp, err = g.client.PullRequests.ListCommits(ctx, g.owner, g.repo, number, opts)
			return resp, err
		})
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("commits of #%d: %w", number, err)
		}
		for _, c := range page {
			if d := c.GetCommit().GetCommitter().GetDate().Time; d.After(last) {
				last = d
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return number, last.UTC(), nil
}

// permission returns login's permission on the repository ("admin",
// "write", "read", "none"); a user GitHub does not know is "none".
func (g *GitHub) permission(ctx context.Context, login string) (string, error) {
	var lvl *github.RepositoryPermissionLevel
	err := g.call(ctx, "permission", func() (*github.Response, error) {
		var resp *github.Response
		var err error
		lvl, resp, err = g.client.Repositories.GetPermissionLevel(ctx, g.owner, g.repo, login)
		return resp, err
	})
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotFound {
		return "none", nil
	}
	if err != nil {
		return "", fmt.Errorf("permission of %s: %w", login, err)
	}
	return lvl.GetPermission(), nil
}
