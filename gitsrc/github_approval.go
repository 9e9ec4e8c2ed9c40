package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

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

// Approvals reads the "/schemacanary approve [reason]" comments on ref.PR
// and checks each author's permission on the repository (write or admin,
// which includes maintain, may approve). An author who may not gets one
// reply saying so; the reply is found again by a hidden marker, so
// repeated calls do not reply twice.
func (g *GitHub) Approvals(ctx context.Context, ref ChangeRef) ([]Approval, error) {
	if ref.PR <= 0 {
		return nil, nil
	}
	cs, err := g.comments(ctx, ref.PR)
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
		ap := Approval{By: login, At: c.GetCreatedAt().Time.UTC(), Reason: reason, Permission: perm,
			Allowed: perm == "admin" || perm == "write" || perm == "maintain"}
		out = append(out, ap)
		if ap.Allowed {
			continue
		}
		marker := refusalMarker(c.GetID())
		if replied[marker] {
			continue
		}
		msg := fmt.Sprintf("%s\n@%s, only collaborators with write or admin permission on %s/%s can approve a schemacanary change; your permission is %q, so this approval of migration %d is ignored.",
			marker, login, g.owner, g.repo, perm, ref.Version)
		if _, err := g.createComment(ctx, ref.PR, msg); err != nil {
			return nil, fmt.Errorf("approvals %d: refuse %s: %w", ref.Version, login, err)
		}
		replied[marker] = true
		g.log.Warn("approval refused", "change", ref.Version, "pr", ref.PR, "by", login, "permission", perm)
	}
	return out, nil
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
