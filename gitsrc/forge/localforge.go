package forge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/schemacanary/schemacanary/gitsrc"
	"github.com/schemacanary/schemacanary/gitsrc/audit"
)

// LocalForge is the Forge for a repository without GitHub: comments are
// files on the audit branch (comments/<version>/<key>.md) and log lines,
// the revert is a branch pushed to the repository's remote, and approvals
// are recorded on the audit branch by RecordApproval (the
// `schemacanary approve` command). Safe for use by one goroutine at a time.
type LocalForge struct {
	repo      *git.Repository
	audit     *audit.Audit
	branch    string
	remote    string
	auth      transport.AuthMethod
	approvers map[string]bool // nil: no approval file counts
	log       *slog.Logger
	now       func() time.Time
}

var _ Forge = (*LocalForge)(nil)

// LocalOption configures a LocalForge.
type LocalOption func(*LocalForge) error

// WithLocalBranch sets the watched branch the revert is based on (default
// "main").
func WithLocalBranch(name string) LocalOption {
	return func(f *LocalForge) error {
		if name == "" || strings.ContainsAny(name, " ~^:?*[\\") {
			return fmt.Errorf("local forge branch %q: not a valid branch name", name)
		}
		f.branch = name
		return nil
	}
}

// WithLocalRemote sets the remote revert branches are pushed to and the
// watched branch is fetched from. The default is "origin" when the
// repository has it; "" keeps everything in the repository itself.
func WithLocalRemote(name string) LocalOption {
	return func(f *LocalForge) error {
		if name != "" {
			if _, err := f.repo.Remote(name); err != nil {
				return fmt.Errorf("local forge remote %q: %w", name, err)
			}
		}
		f.remote = name
		return nil
	}
}

// WithLocalAuth sets credentials for fetch and push (default none).
func WithLocalAuth(auth transport.AuthMethod) LocalOption {
	return func(f *LocalForge) error { f.auth = auth; return nil }
}

// WithLocalApprovers lists who may approve through approval files on the
// audit branch. Without it no approval file counts (approve with
// `schemacanary approve`, which needs the control store's credentials).
func WithLocalApprovers(names ...string) LocalOption {
	return func(f *LocalForge) error {
		if len(names) == 0 {
			return errors.New("local approvers: empty list")
		}
		f.approvers = map[string]bool{}
		for _, n := range names {
			if strings.TrimSpace(n) == "" {
				return errors.New("local approvers: empty name")
			}
			f.approvers[strings.TrimSpace(n)] = true
		}
		return nil
	}
}

// WithLocalLogger sets the logger comments are also written to (default
// discard).
func WithLocalLogger(l *slog.Logger) LocalOption {
	return func(f *LocalForge) error {
		if l == nil {
			return errors.New("local forge logger: nil")
		}
		f.log = l
		return nil
	}
}

// WithLocalClock sets the clock for approval times (default time.Now).
func WithLocalClock(now func() time.Time) LocalOption {
	return func(f *LocalForge) error {
		if now == nil {
			return errors.New("local forge clock: nil")
		}
		f.now = now
		return nil
	}
}

// NewLocalForge returns a LocalForge over repo (the daemon's clone, or the
// repository itself) whose comments and approvals go to audit.
func NewLocalForge(repo *git.Repository, audit *audit.Audit, opts ...LocalOption) (*LocalForge, error) {
	if repo == nil || audit == nil {
		return nil, errors.New("new local forge: repository and audit are required")
	}
	f := &LocalForge{repo: repo, audit: audit, branch: "main", log: slog.New(slog.DiscardHandler), now: time.Now}
	if _, err := repo.Remote(git.DefaultRemoteName); err == nil {
		f.remote = git.DefaultRemoteName
	}
	for _, o := range opts {
		if err := o(f); err != nil {
			return nil, fmt.Errorf("new local forge: %w", err)
		}
	}
	return f, nil
}

var commentKey = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

func commentFile(version int64, key string) string {
	return fmt.Sprintf("comments/%d/%s.md", version, key)
}

// UpsertPrediction writes comments/<version>/prediction.md on the audit
// branch; an identical body commits nothing.
func (f *LocalForge) UpsertPrediction(ctx context.Context, ref ChangeRef, body string) error {
	if ref.Version <= 0 {
		return errors.New("upsert prediction: change version is required")
	}
	doc := []byte(withMarker(PredictionMarker, body) + "\n")
	path := commentFile(ref.Version, "prediction")
	changed, err := f.audit.Commit(ctx, func(tip *object.Tree) (map[string][]byte, string, error) {
		old, _, err := gitsrc.TreeFileBytes(tip, path)
		if err != nil || bytes.Equal(old, doc) {
			return nil, "", err
		}
		return map[string][]byte{path: doc}, audit.NoteMessage(ref.Version, "prediction updated", "Comment", "prediction"), nil
	})
	if err != nil {
		return fmt.Errorf("upsert prediction %d: %w", ref.Version, err)
	}
	if changed {
		f.log.Info("prediction", "change", ref.Version, "comment", body)
	}
	return nil
}

// Comment writes comments/<version>/<key>.md on the audit branch once; a
// second call with the same key commits nothing. key must match
// [a-z0-9][a-z0-9_.-]*.
func (f *LocalForge) Comment(ctx context.Context, ref ChangeRef, key, body string) error {
	if ref.Version <= 0 || !commentKey.MatchString(key) || key == "prediction" {
		return fmt.Errorf("comment %d: invalid version or key %q", ref.Version, key)
	}
	path := commentFile(ref.Version, key)
	doc := []byte(withMarker(commentMarker(key), body) + "\n")
	posted, err := f.audit.Commit(ctx, func(tip *object.Tree) (map[string][]byte, string, error) {
		_, exists, err := gitsrc.TreeFileBytes(tip, path)
		if err != nil || exists {
			return nil, "", err
		}
		return map[string][]byte{path: doc}, audit.NoteMessage(ref.Version, "comment "+key, "Comment", key), nil
	})
	if err != nil {
		return fmt.Errorf("comment %d %s: %w", ref.Version, key, err)
	}
	if posted {
		f.log.Info("comment", "change", ref.Version, "key", key, "comment", body)
	}
	return nil
}
