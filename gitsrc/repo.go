package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
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

// Repo reads a migrations repository: a bare local mirror it clones and
// fetches, or, for a local path or file:// URL without WithDir, the
// repository itself in place (nothing is copied and a poll costs no
// process). Either way it works on a snapshot of the branches taken by
// Open and each Fetch, so results only change when Fetch runs. Its methods are
// safe for concurrent use: they run one at a time, because go-git's
// on-disk object storage is not safe for concurrent readers.
type Repo struct {
	url     string // as given, for errors (credentials redacted)
	opts    repoOptions
	dir     string
	ownsDir bool
	inPlace bool // dir is the source repository itself
	git     *git.Repository
	refs    refSnapshot

	mu      sync.Mutex
	mc      *migrationCache
	folders *folderCache // guarded by mu
	// lastTree is the last folder tree read raw (see rawTree); guarded by mu.
	lastTree struct {
		hash plumbing.Hash
		raw  []byte
	}
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
	r := &Repo{url: redactURL(rawURL), opts: o, dir: o.dir, mc: newMigrationCache(20000), folders: newFolderCache(8)}
	if local, ok := localPath(remote); ok && r.dir == "" {
		r.inPlace, r.dir = true, local
		if err := r.Fetch(ctx); err != nil {
			return nil, err
		}
		if _, err := r.Head(ctx); err != nil {
			return nil, err
		}
		return r, nil
	}
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
	removed, err := repairRefs(r.dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", r.url, err)
	}
	if len(removed) > 0 {
		r.opts.logger.Warn("mirror: removed empty ref files a crash left behind; the next fetch restores them",
			"repo", r.url, "dir", r.dir, "refs", removed)
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
	// (Re)write the remote when its URL or refspecs changed. Only then: a
	// process killed while go-git rewrites the file would leave it torn.
	want := &config.RemoteConfig{Name: remoteName, URLs: []string{remote}, Fetch: refspecs}
	if have := cfg.Remotes[remoteName]; have == nil || !slices.Equal(have.URLs, want.URLs) || !slices.Equal(have.Fetch, want.Fetch) {
		cfg.Remotes[remoteName] = want
		if err := g.SetConfig(cfg); err != nil {
			return fmt.Errorf("open %s: write mirror config: %w", r.url, err)
		}
	}
	r.git = g
	return nil
}

// Fetch brings the mirror up to date, incrementally: only objects the mirror
// lacks are transferred. Branches deleted on the remote are pruned. In place,
// it re-opens the repository (to see new packs) and re-reads its branches.
func (r *Repo) Fetch(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	if r.inPlace {
		// Refs are read from disk; objects behind new refs may sit in
		// packs an open go-git repository does not know, so re-open
		// only when a ref moved, keeping the object cache otherwise.
		old := r.refs
		if r.git != nil {
			if err := r.snapshot(ctx, start, false); err != nil {
				return err
			}
			if maps.Equal(old, r.refs) {
				return nil
			}
		}
		g, err := git.PlainOpenWithOptions(r.dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
		if err != nil {
			return fmt.Errorf("open %s: %w", r.url, err)
		}
		r.git = g
		return r.snapshot(ctx, start, true)
	}
	err := r.git.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		Auth:       r.opts.auth,
		Force:      true,
		Prune:      true,
		Tags:       git.NoTags,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return r.snapshot(ctx, start, err == nil)
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
	h, ok := r.refs[plumbing.NewBranchReferenceName(r.opts.branch)]
	if !ok {
		return plumbing.ZeroHash, fmt.Errorf("%s: branch %q: %w", r.url, r.opts.branch, ErrNoBranch)
	}
	return h, nil
}

// refSnapshot maps the remote's ref names (refs/heads/*, refs/pull/*/head)
// to commits, as of the last Fetch.
type refSnapshot map[plumbing.ReferenceName]plumbing.Hash

// snapshot records the branches and pull-request heads. Called with r.mu held.
func (r *Repo) snapshot(ctx context.Context, start time.Time, updated bool) error {
	it, err := r.git.References()
	if err != nil {
		return fmt.Errorf("%s: read refs: %w", r.url, err)
	}
	refs := refSnapshot{}
	mirrorPrefix := "refs/remotes/" + remoteName + "/"
	err = it.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference {
			return nil
		}
		n := ref.Name().String()
		switch {
		case strings.HasPrefix(n, "refs/pull/") && strings.HasSuffix(n, "/head"):
		case r.inPlace && strings.HasPrefix(n, "refs/heads/"):
		case !r.inPlace && strings.HasPrefix(n, mirrorPrefix) && n != mirrorPrefix+"HEAD":
			n = "refs/heads/" + strings.TrimPrefix(n, mirrorPrefix)
		default:
			return nil
		}
		refs[plumbing.ReferenceName(n)] = ref.Hash()
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: read refs: %w", r.url, err)
	}
	r.refs = refs
	r.opts.logger.LogAttrs(ctx, slog.LevelDebug, "git fetch", slog.String("repo", r.url), slog.Bool("in_place", r.inPlace),
		slog.Bool("updated", updated), slog.Int("refs", len(refs)), slog.Duration("took", time.Since(start)))
	return nil
}

// Branch returns the watched branch's name.
func (r *Repo) Branch() string { return r.opts.branch }

// MigrationsDir returns the migrations folder relative to the repository
// root ("" for the root).
func (r *Repo) MigrationsDir() string { return r.opts.migDir }

// Git returns the underlying go-git repository (the bare mirror, or the
// source repository itself when read in place), for packages that write to
// it, such as the audit branch writer. Callers must not move refs under
// refs/remotes/origin nor refs/pull, and must not use it while a Repo method
// runs; Fetch may replace it.
func (r *Repo) Git() *git.Repository { return r.git }

// Close removes the mirror when Open created it in a temp dir; a WithDir
// mirror, or a repository read in place, stays.
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

// localPath returns the directory of a local path or file:// URL.
func localPath(remote string) (string, bool) {
	if filepath.IsAbs(remote) {
		return remote, true
	}
	if p, ok := strings.CutPrefix(remote, "file://"); ok {
		return p, true
	}
	return "", false
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
