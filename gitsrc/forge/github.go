package forge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// GitHub is the Forge for a repository on GitHub or GitHub Enterprise
// Server, through the REST API (go-github). The token needs, on the
// repository: Issues and Pull requests read/write (comments, revert PR),
// Contents read/write (revert branch through the Git Data API), and
// Metadata read (collaborator permissions). Every call waits out rate
// limits (primary and secondary) up to WithMaxRateLimitWait. Safe for use
// by one goroutine at a time.
type GitHub struct {
	client  *github.Client
	owner   string
	repo    string
	branch  string
	log     *slog.Logger
	maxWait time.Duration
	tries   int
}

var _ Forge = (*GitHub)(nil)

type githubConfig struct {
	baseURL string
	hc      *http.Client
	branch  string
	log     *slog.Logger
	maxWait time.Duration
}

// GitHubOption configures a GitHub forge.
type GitHubOption func(*githubConfig) error

// WithGitHubBaseURL points the client at a GitHub Enterprise Server, e.g.
// "https://ghe.example.com" ("/api/v3/" is appended when missing). "" and
// "https://api.github.com" mean github.com, the default. It must be https,
// except for a loopback address (a local test server): the token travels
// with every request.
func WithGitHubBaseURL(u string) GitHubOption {
	return func(c *githubConfig) error {
		if u == "" || strings.TrimSuffix(u, "/") == "https://api.github.com" {
			c.baseURL = ""
			return nil
		}
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || (p.Scheme != "https" && p.Scheme != "http") {
			return fmt.Errorf("github base URL %q: must be an https URL", u)
		}
		if ip := net.ParseIP(p.Hostname()); p.Scheme == "http" && p.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("github base URL %q: the token would travel in clear text; use https (http only for a loopback address)", u)
		}
		c.baseURL = u
		return nil
	}
}

// WithGitHubBranch sets the watched branch, the base of revert pull
// requests (default "main").
func WithGitHubBranch(name string) GitHubOption {
	return func(c *githubConfig) error {
		if name == "" || strings.ContainsAny(name, " ~^:?*[\\") {
			return fmt.Errorf("github branch %q: not a valid branch name", name)
		}
		c.branch = name
		return nil
	}
}

// WithGitHubLogger sets the logger (default: discard).
func WithGitHubLogger(l *slog.Logger) GitHubOption {
	return func(c *githubConfig) error {
		if l == nil {
			return errors.New("github logger: nil")
		}
		c.log = l
		return nil
	}
}

// WithMaxRateLimitWait bounds how long one call waits for a rate limit to
// reset (default 15 minutes). A longer wait fails with ErrRateLimited.
func WithMaxRateLimitWait(d time.Duration) GitHubOption {
	return func(c *githubConfig) error {
		if d <= 0 {
			return fmt.Errorf("max rate limit wait %s: must be positive", d)
		}
		c.maxWait = d
		return nil
	}
}

// NewGitHub returns the forge for owner/repo authenticated with token (the
// caller reads it from the environment variable the config names).
func NewGitHub(owner, repo, token string, opts ...GitHubOption) (*GitHub, error) {
	if owner == "" || repo == "" || strings.Contains(owner+repo, "/") {
		return nil, fmt.Errorf("new github forge: owner %q and repo %q are required, without slashes", owner, repo)
	}
	if token == "" {
		return nil, errors.New("new github forge: empty token")
	}
	cfg := githubConfig{hc: &http.Client{Timeout: 30 * time.Second}, branch: "main", log: slog.New(slog.DiscardHandler), maxWait: 15 * time.Minute}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("new github forge: %w", err)
		}
	}
	client := github.NewClient(cfg.hc).WithAuthToken(token)
	if cfg.baseURL != "" {
		var err error
		if client, err = client.WithEnterpriseURLs(cfg.baseURL, cfg.baseURL); err != nil {
			return nil, fmt.Errorf("new github forge: base URL: %w", err)
		}
	}
	return &GitHub{client: client, owner: owner, repo: repo, branch: cfg.branch, log: cfg.log, maxWait: cfg.maxWait, tries: 6}, nil
}

// comments lists every comment of issue/PR number, following pagination.
func (g *GitHub) comments(ctx context.Context, number int) ([]*github.IssueComment, error) {
	var all []*github.IssueComment
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		var page []*github.IssueComment
		var resp *github.Response
		err := g.call(ctx, "list comments", func() (*github.Response, error) {
			var err error
			page, resp, err = g.client.Issues.ListComments(ctx, g.owner, g.repo, number, opts)
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("list comments of #%d: %w", number, err)
		}
		all = append(all, page...)
		if resp.NextPage == 0 {
			return all, nil
		}
		opts.Page = resp.NextPage
	}
}

func (g *GitHub) createComment(ctx context.Context, number int, body string) (*github.IssueComment, error) {
	var c *github.IssueComment
	err := g.call(ctx, "create comment", func() (*github.Response, error) {
		var resp *github.Response
		var err error
		c, resp, err = g.client.Issues.CreateComment(ctx, g.owner, g.repo, number, &github.IssueComment{Body: github.String(body)})
		return resp, err
	})
	if err != nil {
		return nil, fmt.Errorf("comment on #%d: %w", number, err)
	}
	return c, nil
}

// UpsertPrediction creates or edits the one comment on ref.PR that carries
// PredictionMarker. It lists all comments (every page) first, so repeated
// calls edit the same comment; an unchanged body makes no write.
func (g *GitHub) UpsertPrediction(ctx context.Context, ref ChangeRef, body string) error {
	if ref.PR <= 0 {
		g.log.Info("prediction not posted: change has no pull request", "change", ref.Version)
		return nil
	}
	full := withMarker(PredictionMarker, body)
	cs, err := g.comments(ctx, ref.PR)
	if err != nil {
		return fmt.Errorf("upsert prediction %d: %w", ref.Version, err)
	}
	for _, c := range cs {
		if !strings.Contains(c.GetBody(), PredictionMarker) {
			continue
		}
		if c.GetBody() == full {
			return nil
		}
		err := g.call(ctx, "edit comment", func() (*github.Response, error) {
			_, resp, err := g.client.Issues.EditComment(ctx, g.owner, g.repo, c.GetID(), &github.IssueComment{Body: github.String(full)})
			return resp, err
		})
		if err != nil {
			return fmt.Errorf("upsert prediction %d: edit comment %d: %w", ref.Version, c.GetID(), err)
		}
		g.log.Info("prediction comment updated", "change", ref.Version, "pr", ref.PR, "comment", c.GetID())
		return nil
	}
	c, err := g.createComment(ctx, ref.PR, full)
	if err != nil {
		return fmt.Errorf("upsert prediction %d: %w", ref.Version, err)
	}
	g.log.Info("prediction comment created", "change", ref.Version, "pr", ref.PR, "comment", c.GetID())
	return nil
}

// Comment posts body on ref.PR unless a comment with the same key's marker
// is already there.
func (g *GitHub) Comment(ctx context.Context, ref ChangeRef, key, body string) error {
	if !commentKey.MatchString(key) {
		return fmt.Errorf("comment %d: invalid key %q", ref.Version, key)
	}
	if ref.PR <= 0 {
		g.log.Info("comment not posted: change has no pull request", "change", ref.Version, "key", key, "comment", body)
		return nil
	}
	marker := commentMarker(key)
	cs, err := g.comments(ctx, ref.PR)
	if err != nil {
		return fmt.Errorf("comment %d %s: %w", ref.Version, key, err)
	}
	for _, c := range cs {
		if strings.Contains(c.GetBody(), marker) {
			return nil
		}
	}
	if _, err := g.createComment(ctx, ref.PR, withMarker(marker, body)); err != nil {
		return fmt.Errorf("comment %d %s: %w", ref.Version, key, err)
	}
	g.log.Info("comment posted", "change", ref.Version, "pr", ref.PR, "key", key)
	return nil
}
