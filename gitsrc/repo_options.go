package gitsrc

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// Option configures Open. Options validate their arguments and Open rejects
// conflicting combinations.
type Option func(*repoOptions) error

type repoOptions struct {
	dir       string // on-disk cache; "" = a temp dir Open creates and Close removes
	branch    string
	migDir    string
	auth      transport.AuthMethod
	logger    *slog.Logger
	pullRefs  bool
	remoteURL string
	// maxFileBytes bounds a migration file's size (0 = no limit).
	maxFileBytes int64
}

func defaultRepoOptions() repoOptions {
	return repoOptions{branch: "main", migDir: "migrations", pullRefs: true, logger: slog.New(slog.DiscardHandler),
		maxFileBytes: migration.DefaultMaxFileBytes}
}

// WithBasicAuth authenticates HTTPS fetches with HTTP basic auth. For GitHub
// use any non-empty user (e.g. "x-access-token") and a token as password.
// The token never appears in errors or logs. Conflicts with a URL that
// carries its own credentials.
func WithBasicAuth(user, token string) Option {
	return func(o *repoOptions) error {
		if user == "" || token == "" {
			return errors.New("WithBasicAuth: user and token must be non-empty")
		}
		o.auth = &githttp.BasicAuth{Username: user, Password: token}
		return nil
	}
}

// WithDir keeps the clone in dir (created when missing) so that a restarted
// process fetches incrementally instead of cloning again. The clone is bare
// and owned by schemacanary; do not work in it. Default: a temp dir removed
// by Close.
func WithDir(dir string) Option {
	return func(o *repoOptions) error {
		if dir == "" {
			return errors.New("WithDir: empty path")
		}
		o.dir = dir
		return nil
	}
}

// WithBranch sets the watched branch (default "main"). Migrations merged on
// it are change requests; every other branch is a proposal.
func WithBranch(name string) Option {
	return func(o *repoOptions) error {
		name = strings.TrimPrefix(name, "refs/heads/")
		if name == "" || strings.ContainsAny(name, " ~^:?*[\\") || strings.HasPrefix(name, "-") {
			return fmt.Errorf("WithBranch: invalid branch name %q", name)
		}
		o.branch = name
		return nil
	}
}

// WithMigrationsDir sets the folder of goose files, relative to the
// repository root (default "migrations"; "." for the root itself).
func WithMigrationsDir(dir string) Option {
	return func(o *repoOptions) error {
		clean := path.Clean(strings.TrimPrefix(strings.TrimSuffix(dir, "/"), "./"))
		if dir == "" || path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("WithMigrationsDir: %q must be a path inside the repository", dir)
		}
		if clean == "." {
			clean = ""
		}
		o.migDir = clean
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *repoOptions) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithPullRequestRefs turns fetching GitHub's refs/pull/N/head on or off
// (default on; a remote without them simply has none).
func WithPullRequestRefs(on bool) Option {
	return func(o *repoOptions) error {
		o.pullRefs = on
		return nil
	}
}
