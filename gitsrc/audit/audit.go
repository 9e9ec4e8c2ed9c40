package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/schemacanary/schemacanary/gitsrc"
)

// AuditBranch is the default name of the orphan branch holding the audit.
const AuditBranch = "schemacanary-audit"

// Audit writes and reads the audit branch: one Markdown file per change
// (changes/<version>.md) and one commit per state transition, so that
// `git log schemacanary-audit` is the timeline.
//
// An Audit works on the object store of a go-git repository (bare, with a
// worktree, or in memory) and never touches a worktree. With a remote it
// fetches the branch before every write, builds on the remote's tip, and
// pushes; a push rejected as non-fast-forward is retried. Methods are safe
// for concurrent use.
type Audit struct {
	repo   *git.Repository
	branch string
	remote string // "" = no remote
	auth   transport.AuthMethod
	name   string
	email  string
	log    *slog.Logger
	now    func() time.Time
	tries  int

	mu sync.Mutex
}

// AuditOption configures an Audit.
type AuditOption func(*Audit) error

// WithAuditBranch sets the branch name (default AuditBranch).
func WithAuditBranch(name string) AuditOption {
	return func(a *Audit) error {
		if name == "" || strings.ContainsAny(name, " ~^:?*[\\") || !plumbing.NewBranchReferenceName(name).IsBranch() {
			return fmt.Errorf("audit branch %q: not a valid branch name", name)
		}
		a.branch = name
		return nil
	}
}

// WithAuditRemote sets the remote the branch is pushed to. The default is
// "origin" when the repository has it, else none; "" disables pushing.
func WithAuditRemote(name string) AuditOption {
	return func(a *Audit) error {
		if name != "" {
			if _, err := a.repo.Remote(name); err != nil {
				return fmt.Errorf("audit remote %q: %w", name, err)
			}
		}
		a.remote = name
		return nil
	}
}

// WithAuditAuth sets the credentials for fetch and push (default none,
// enough for local paths and file:// URLs).
func WithAuditAuth(auth transport.AuthMethod) AuditOption {
	return func(a *Audit) error { a.auth = auth; return nil }
}

// WithAuditLogger sets the logger (default: discard).
func WithAuditLogger(l *slog.Logger) AuditOption {
	return func(a *Audit) error {
		if l == nil {
			return errors.New("audit logger: nil")
		}
		a.log = l
		return nil
	}
}

// WithAuditClock sets the clock used for commit times (default time.Now).
func WithAuditClock(now func() time.Time) AuditOption {
	return func(a *Audit) error {
		if now == nil {
			return errors.New("audit clock: nil")
		}
		a.now = now
		return nil
	}
}

// WithAuditPushRetries sets how often a rejected push is retried after a
// fresh fetch (default 5, at least 1).
func WithAuditPushRetries(n int) AuditOption {
	return func(a *Audit) error {
		if n < 1 {
			return fmt.Errorf("audit push retries %d: must be >= 1", n)
		}
		a.tries = n
		return nil
	}
}

// NewAudit returns an Audit over repo.
func NewAudit(repo *git.Repository, opts ...AuditOption) (*Audit, error) {
	if repo == nil {
		return nil, errors.New("new audit: nil repository")
	}
	a := &Audit{
		repo: repo, branch: AuditBranch,
		name: "schemacanary", email: "schemacanary@localhost",
		log: slog.New(slog.DiscardHandler), now: time.Now, tries: 5,
	}
	if _, err := repo.Remote(git.DefaultRemoteName); err == nil {
		a.remote = git.DefaultRemoteName
	}
	for _, o := range opts {
		if err := o(a); err != nil {
			return nil, fmt.Errorf("new audit: %w", err)
		}
	}
	return a, nil
}

// OpenAudit opens the audit branch of the repository at location, a local
// path (worktree or bare) or a URL. A URL is fetched into memory (only the
// audit branch), which suits reading; writes then push to that URL.
func OpenAudit(ctx context.Context, location string, opts ...AuditOption) (*Audit, error) {
	if st, err := os.Stat(location); err == nil && st.IsDir() {
		repo, err := git.PlainOpen(location)
		if errors.Is(err, git.ErrRepositoryNotExists) {
			repo, err = git.PlainOpenWithOptions(location, &git.PlainOpenOptions{DetectDotGit: true})
		}
		if err != nil {
			return nil, fmt.Errorf("open audit %s: %w", location, err)
		}
		return NewAudit(repo, opts...)
	}
	repo, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		return nil, fmt.Errorf("open audit %s: %w", location, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: git.DefaultRemoteName, URLs: []string{location}}); err != nil {
		return nil, fmt.Errorf("open audit %s: %w", location, err)
	}
	a, err := NewAudit(repo, opts...)
	if err != nil {
		return nil, err
	}
	if _, err := a.sync(ctx); err != nil {
		return nil, fmt.Errorf("open audit %s: %w", location, err)
	}
	return a, nil
}

// Branch returns the audit branch's name.
func (a *Audit) Branch() string { return a.branch }

func (a *Audit) localRef() plumbing.ReferenceName  { return plumbing.NewBranchReferenceName(a.branch) }
func (a *Audit) remoteRef() plumbing.ReferenceName { return gitsrc.TrackingRef(a.remote, a.branch) }

// Edit computes the files to write from the current tip's tree; returning
// no files means there is nothing to do. A nil value deletes the file.
type Edit func(tip *object.Tree) (files map[string][]byte, msg string, err error)

// Commit applies fn on the tip of the branch as one commit and pushes it.
// It reports whether a commit was made.
func (a *Audit) Commit(ctx context.Context, fn Edit) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var lastErr error
	for try := 0; try < a.tries; try++ {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		tip, err := a.sync(ctx)
		if err != nil {
			return false, err
		}
		var tree *object.Tree
		var parents []plumbing.Hash
		if tip != nil {
			if tree, err = tip.Tree(); err != nil {
				return false, fmt.Errorf("audit tip tree: %w", err)
			}
			parents = []plumbing.Hash{tip.Hash}
		}
		files, msg, err := fn(tree)
		if err != nil {
			return false, err
		}
		if len(files) == 0 {
			// Nothing new; still publish commits a crash left unpushed.
			err := a.push(ctx)
			if err == nil || !isNonFastForward(err) {
				return false, err
			}
			lastErr = err
			continue
		}
		st := a.repo.Storer
		changes := map[string]gitsrc.TreeChange{}
		for p, data := range files {
			if data == nil {
				changes[p] = gitsrc.TreeChange{Delete: true}
				continue
			}
			h, err := gitsrc.PutBlob(st, data)
			if err != nil {
				return false, err
			}
			changes[p] = gitsrc.TreeChange{Hash: h}
		}
		th, err := gitsrc.PutTree(st, tree, changes)
		if err != nil {
			return false, err
		}
		ch, err := gitsrc.PutCommit(st, th, parents, msg, Signature(a.name, a.email, a.now()))
		if err != nil {
			return false, err
		}
		if err := st.SetReference(plumbing.NewHashReference(a.localRef(), ch)); err != nil {
			return false, fmt.Errorf("update %s: %w", a.branch, err)
		}
		err = a.push(ctx)
		if err == nil {
			return true, nil
		}
		if !isNonFastForward(err) {
			return false, err
		}
		lastErr = err
		a.log.Info("audit push rejected, refetching", "branch", a.branch, "try", try+1, "err", err)
	}
	return false, fmt.Errorf("audit push %s after %d tries: %w", a.branch, a.tries, lastErr)
}

func isNonFastForward(err error) bool {
	if errors.Is(err, git.ErrNonFastForwardUpdate) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "non-fast-forward") || strings.Contains(s, "fetch first") || strings.Contains(s, "failed to update ref")
}

// push publishes the local branch to the remote (no-op without a remote).
func (a *Audit) push(ctx context.Context) error {
	if a.remote == "" {
		return nil
	}
	local, err := a.repo.Storer.Reference(a.localRef())
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit push: %w", err)
	}
	if err := pushBranch(ctx, a.repo, a.remote, a.auth, a.localRef(), local.Hash()); err != nil {
		return fmt.Errorf("audit push %s to %s: %w", a.branch, a.remote, err)
	}
	if err := a.repo.Storer.SetReference(plumbing.NewHashReference(a.remoteRef(), local.Hash())); err != nil {
		return fmt.Errorf("audit push: %w", err)
	}
	return nil
}

// sync fetches the remote branch and returns the commit new audit commits
// build on (nil: the branch does not exist yet). Local commits the remote
// lacks are kept: fast-forwarded when possible, else replayed on top of
// the remote's tip (each audit commit rewrites whole files, so replaying
// is a copy of the files it changed).
func (a *Audit) sync(ctx context.Context) (*object.Commit, error) {
	local := a.commitAt(a.localRef())
	if a.remote == "" {
		return local, nil
	}
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", a.localRef(), a.remoteRef()))
	err := a.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: a.remote, RefSpecs: []config.RefSpec{spec}, Auth: a.auth})
	var noMatch git.NoMatchingRefSpecError
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.As(err, &noMatch), errors.Is(err, transport.ErrEmptyRemoteRepository):
		// The remote has no audit branch yet.
		_ = a.repo.Storer.RemoveReference(a.remoteRef()) // a missing reference is the state wanted
	default:
		return nil, fmt.Errorf("audit fetch %s from %s: %w", a.branch, a.remote, err)
	}
	remote := a.commitAt(a.remoteRef())
	switch {
	case remote == nil:
		return local, nil
	case local == nil || local.Hash == remote.Hash:
		return a.setLocal(remote)
	}
	if ok, err := local.IsAncestor(remote); err != nil {
		return nil, fmt.Errorf("audit sync: %w", err)
	} else if ok {
		return a.setLocal(remote)
	}
	if ok, err := remote.IsAncestor(local); err != nil {
		return nil, fmt.Errorf("audit sync: %w", err)
	} else if ok {
		return local, nil
	}
	replayed, err := a.replay(local, remote)
	if err != nil {
		return nil, err
	}
	return a.setLocal(replayed)
}

func (a *Audit) setLocal(c *object.Commit) (*object.Commit, error) {
	if err := a.repo.Storer.SetReference(plumbing.NewHashReference(a.localRef(), c.Hash)); err != nil {
		return nil, fmt.Errorf("audit sync: %w", err)
	}
	return c, nil
}

func (a *Audit) commitAt(name plumbing.ReferenceName) *object.Commit {
	ref, err := a.repo.Storer.Reference(name)
	if err != nil {
		return nil
	}
	c, err := a.repo.CommitObject(ref.Hash())
	if err != nil {
		return nil
	}
	return c
}

// replay re-applies local's commits that onto lacks, oldest first.
func (a *Audit) replay(local, onto *object.Commit) (*object.Commit, error) {
	var own []*object.Commit
	for c := local; c != nil; {
		if ok, err := c.IsAncestor(onto); err != nil {
			return nil, fmt.Errorf("audit replay: %w", err)
		} else if ok || c.Hash == onto.Hash {
			break
		}
		own = append(own, c)
		if c.NumParents() == 0 {
			break
		}
		p, err := c.Parent(0)
		if err != nil {
			return nil, fmt.Errorf("audit replay: %w", err)
		}
		c = p
	}
	base := onto
	st := a.repo.Storer
	for i := len(own) - 1; i >= 0; i-- {
		c := own[i]
		var from *object.Tree
		if c.NumParents() > 0 {
			p, err := c.Parent(0)
			if err != nil {
				return nil, fmt.Errorf("audit replay: %w", err)
			}
			if from, err = p.Tree(); err != nil {
				return nil, fmt.Errorf("audit replay: %w", err)
			}
		}
		to, err := c.Tree()
		if err != nil {
			return nil, fmt.Errorf("audit replay: %w", err)
		}
		diff, err := object.DiffTree(from, to)
		if err != nil {
			return nil, fmt.Errorf("audit replay: %w", err)
		}
		changes := map[string]gitsrc.TreeChange{}
		for _, d := range diff {
			if d.To.Name == "" {
				changes[d.From.Name] = gitsrc.TreeChange{Delete: true}
				continue
			}
			changes[d.To.Name] = gitsrc.TreeChange{Hash: d.To.TreeEntry.Hash, Mode: d.To.TreeEntry.Mode}
		}
		bt, err := base.Tree()
		if err != nil {
			return nil, fmt.Errorf("audit replay: %w", err)
		}
		th, err := gitsrc.PutTree(st, bt, changes)
		if err != nil {
			return nil, err
		}
		h, err := gitsrc.PutCommit(st, th, []plumbing.Hash{base.Hash}, c.Message, c.Committer)
		if err != nil {
			return nil, err
		}
		if base, err = a.repo.CommitObject(h); err != nil {
			return nil, fmt.Errorf("audit replay: %w", err)
		}
	}
	a.log.Info("audit branch diverged; replayed local commits on the remote tip", "branch", a.branch, "commits", len(own))
	return base, nil
}
