package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Errors returned by Open, Fetch and Changes.
var (
	// ErrAuth: the remote refused the credentials (or wants some). Returned
	// by Open and Fetch.
	ErrAuth = errors.New("git authentication failed")
	// ErrNoBranch: the watched branch does not exist on the remote.
	ErrNoBranch = errors.New("watched branch not found")
	// ErrUnknownCommit: Changes was given a since that is not in the
	// first-parent history of the watched branch (e.g. after a force push).
	ErrUnknownCommit = errors.New("commit not in the watched branch's history")
)

// Refspecs fetched on every poll. Branches land under refs/remotes/origin/;
// GitHub's pull-request heads, when the remote has them, keep their names.
const (
	headsRefspec = "+refs/heads/*:refs/remotes/origin/*"
	pullRefspec  = "+refs/pull/*/head:refs/pull/*/head"
	remoteName   = "origin"
)

// Repo is a bare local mirror of a migrations repository. Its methods are
// safe for concurrent use: they run one at a time, because go-git's
// on-disk object storage is not safe for concurrent readers.
type Repo struct {
	url     string // as given, for errors (credentials redacted)
	opts    repoOptions
	dir     string
	ownsDir bool
	git     *git.Repository

	mu sync.Mutex
	mc *migrationCache
}

// Open clones url (a local path, file://, http(s)://) into a bare mirror, or
// opens and fetches an existing mirror in WithDir's folder, and fetches the
// watched branch, every other branch and pull-request heads. It fails with
// ErrAuth when the remote refuses the credentials and ErrNoBranch when the
// watched branch is missing. Call Close to release a temp dir.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Repo, error) {
	o := defaultRepoOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	remote, err := normalizeURL(rawURL)
	if err != nil {
		return nil, err
	}
	if o.auth != nil && hasUserinfo(remote) {
		return nil, fmt.Errorf("open %s: WithBasicAuth conflicts with credentials in the URL", redactURL(rawURL))
	}
	r := &Repo{url: redactURL(rawURL), opts: o, dir: o.dir, mc: newMigrationCache(20000)}
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "schemacanary-git-"); err != nil {
			return nil, fmt.Errorf("open %s: %w", r.url, err)
		}
		r.ownsDir = true
	}
	if err := r.initMirror(remote); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.Fetch(ctx); err != nil {
		r.Close()
		return nil, err
	}
	if _, err := r.Head(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Repo) initMirror(remote string) error {
	refspecs := []config.RefSpec{headsRefspec}
	if r.opts.pullRefs {
		refspecs = append(refspecs, pullRefspec)
	}
	g, err := git.PlainOpen(r.dir)
	switch {
	case errors.Is(err, git.ErrRepositoryNotExists):
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			return fmt.Errorf("open %s: %w", r.url, err)
		}
		if g, err = git.PlainInit(r.dir, true); err != nil {
			return fmt.Errorf("open %s: init mirror in %s: %w", r.url, r.dir, err)
		}
	case err != nil:
		return fmt.Errorf("open %s: mirror in %s: %w", r.url, r.dir, err)
	}
	cfg, err := g.Config()
	if err != nil {
		return fmt.Errorf("open %s: read mirror config: %w", r.url, err)
	}
	// (Re)write the remote so a changed URL or refspec takes effect.
	cfg.Remotes[remoteName] = &config.RemoteConfig{Name: remoteName, URLs: []string{remote}, Fetch: refspecs}
	if err := g.SetConfig(cfg); err != nil {
		return fmt.Errorf("open %s: write mirror config: %w", r.url, err)
	}
	r.git = g
	return nil
}

// Fetch brings the mirror up to date, incrementally: only objects the mirror
// lacks are transferred. Branches deleted on the remote are pruned.
func (r *Repo) Fetch(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	err := r.git.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		Auth:       r.opts.auth,
		Force:      true,
		Prune:      true,
		Tags:       git.NoTags,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		r.opts.logger.LogAttrs(ctx, slog.LevelDebug, "git fetch", slog.String("repo", r.url),
			slog.Bool("updated", err == nil), slog.Duration("took", time.Since(start)))
		return nil
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("fetch %s: %w: the repository is empty", r.url, ErrNoBranch)
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		cause := transport.ErrAuthenticationRequired
		if errors.Is(err, transport.ErrAuthorizationFailed) {
			cause = transport.ErrAuthorizationFailed
		}
		hint := "check the user and token"
		if r.opts.auth == nil {
			hint = "the remote wants credentials: give a token (WithBasicAuth, --token-env)"
		}
		// The transport's error carries the server's response body; keep
		// only the sentinel so the message is one clean line.
		return fmt.Errorf("fetch %s: %w: %w (%s)", r.url, ErrAuth, cause, hint)
	default:
		return fmt.Errorf("fetch %s: %w", r.url, err)
	}
}

// Head returns the commit sha of the watched branch as last fetched.
func (r *Repo) Head(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.headHash()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func (r *Repo) headHash() (plumbing.Hash, error) {
	ref, err := r.git.Reference(plumbing.NewRemoteReferenceName(remoteName, r.opts.branch), true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%s: branch %q: %w", r.url, r.opts.branch, ErrNoBranch)
	}
	return ref.Hash(), nil
}

// Branch returns the watched branch's name.
func (r *Repo) Branch() string { return r.opts.branch }

// MigrationsDir returns the migrations folder relative to the repository
// root ("" for the root).
func (r *Repo) MigrationsDir() string { return r.opts.migDir }

// Git returns the underlying go-git repository (the bare mirror), for
// packages that write to it, such as the audit branch writer. Callers must
// not move refs under refs/remotes/origin nor refs/pull, and must not use it
// while a Repo method runs.
func (r *Repo) Git() *git.Repository { return r.git }

// Close removes the mirror when Open created it in a temp dir; a WithDir
// mirror stays for the next Open.
func (r *Repo) Close() error {
	if r.ownsDir && r.dir != "" {
		return os.RemoveAll(r.dir)
	}
	return nil
}

// commit resolves a full or abbreviated sha, or a ref name, to a commit.
func (r *Repo) commit(rev string) (*object.Commit, error) {
	h, err := r.git.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("resolve %q: %w", rev, err)
	}
	c, err := r.git.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	return c, nil
}

// normalizeURL turns a local path into an absolute path and checks the scheme.
func normalizeURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("open: empty repository URL")
	}
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "", fmt.Errorf("open %s: %w", redactURL(raw), err)
		}
		switch u.Scheme {
		case "file", "http", "https", "ssh", "git":
			return raw, nil
		default:
			return "", fmt.Errorf("open %s: unsupported scheme %q (want a path, file://, https:// or ssh://)", redactURL(raw), u.Scheme)
		}
	}
	if strings.Contains(raw, "@") && strings.Contains(raw, ":") && !filepath.IsAbs(raw) {
		return raw, nil // scp-like ssh: git@github.com:org/repo.git
	}
	abs, err := filepath.Abs(raw)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", raw, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("open %s: %w", raw, err)
	}
	return abs, nil
}

func hasUserinfo(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.User != nil
}

// redactURL hides any password or token in a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
