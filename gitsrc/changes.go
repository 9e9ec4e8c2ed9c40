package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// ChangeRequest is one migration merged on the watched branch: the file as
// it was when merged, and the commit that brought it in.
type ChangeRequest struct {
	// Migration is the parsed file. Treat it as read-only: it may be shared
	// with the Repo's parse cache.
	Migration *migration.Migration `json:"migration"`
	// Commit is the sha of the first-parent commit on the watched branch
	// that added the file (the merge commit for merged pull requests).
	Commit string `json:"commit"`
	// Author and AuthorEmail are the commit's author.
	Author      string `json:"author"`
	AuthorEmail string `json:"author_email"`
	// Message is the full commit message.
	Message string `json:"message"`
	// PR is the pull-request number parsed from Message (see PRNumber), 0
	// when none. A forge may know better (GitHub's "pull requests for a
	// commit").
	PR int `json:"pr,omitempty"`
	// MergedAt is the commit's committer time.
	MergedAt time.Time `json:"merged_at"`
}

// ChangeSet is what happened on the watched branch between two commits.
type ChangeSet struct {
	// Since is the commit the set starts after ("" = the beginning).
	Since string `json:"since"`
	// Head is the watched branch's head the set ends at; pass it as since
	// to the next Changes call.
	Head string `json:"head"`
	// Changes are the migrations added, in the order they were merged
	// (within one commit, in version order).
	Changes []ChangeRequest `json:"changes"`
	// Errors are the violations found, each naming file, line and commit.
	Errors []*migration.MigrationError `json:"errors,omitempty"`
}

// Err joins the set's errors, nil when there are none.
func (cs *ChangeSet) Err() error {
	errs := make([]error, len(cs.Errors))
	for i, e := range cs.Errors {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Changes walks the watched branch's first-parent history from since
// (exclusive; "" = from the first commit) to its head as last fetched, and
// returns the migrations added and every violation:
//
//   - ErrChecksumDrift: a merged file was edited;
//   - ErrDeleted: a merged file was deleted;
//   - ErrDuplicateVersion: a new file reuses a version already merged;
//   - ErrOutOfOrder: a new file's version is lower than the highest merged;
//   - ErrGoMigration, ErrBadFilename, ErrFrontMatter, ErrMissingDown,
//     ErrGooseSyntax: the new file itself is not acceptable.
//
// Files present at since are the "already merged" baseline and are not
// validated again. Only commits whose migrations folder changed are
// examined, and only the added files are read and parsed, so a poll after
// one new commit costs one tree comparison. It returns ErrUnknownCommit when
// since is not in the first-parent history of the branch.
func (r *Repo) Changes(ctx context.Context, since string) (*ChangeSet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	head, err := r.headHash()
	if err != nil {
		return nil, err
	}
	var sinceHash plumbing.Hash
	if since != "" {
		h, err := r.git.ResolveRevision(plumbing.Revision(since))
		if err != nil {
			return nil, fmt.Errorf("changes since %s: %w", since, ErrUnknownCommit)
		}
		sinceHash = *h
	}
	cs := &ChangeSet{Since: since, Head: head.String()}
	if sinceHash == head {
		return cs, nil
	}
	commits, err := r.firstParentsSince(ctx, head, sinceHash)
	if err != nil {
		return nil, err
	}
	var st *branchState
	prev := plumbing.ZeroHash
	var prevRaw []byte
	if sinceHash.IsZero() {
		st = newBranchState(0)
	} else {
		c, err := r.git.CommitObject(sinceHash)
		if err != nil {
			return nil, fmt.Errorf("changes since %s: %w", since, err)
		}
		if prev, err = r.folderHash(c); err != nil {
			return nil, err
		}
		entries, err := r.entriesOf(prev)
		if err != nil {
			return nil, err
		}
		st = newBranchState(len(entries) + 16)
		st.seed(entries)
		if prevRaw, err = r.rawTree(prev); err != nil {
			return nil, err
		}
	}
	for _, c := range commits {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fh, err := r.folderHash(c)
		if err != nil {
			return nil, err
		}
		if fh == prev {
			continue
		}
		raw, err := r.rawTree(fh)
		if err != nil {
			return nil, err
		}
		changed, gone, err := diffRawTrees(r.opts.migDir, prevRaw, raw)
		if err != nil {
			return nil, fmt.Errorf("%s in %s: %w", r.opts.migDir, c.Hash, err)
		}
		r.applyCommit(st, c, changed, gone, cs)
		prev, prevRaw = fh, raw
	}
	r.opts.logger.LogAttrs(ctx, slog.LevelDebug, "git changes", slog.String("repo", r.url),
		slog.String("since", since), slog.String("head", cs.Head), slog.Int("commits", len(commits)),
		slog.Int("changes", len(cs.Changes)), slog.Int("errors", len(cs.Errors)))
	return cs, nil
}

// firstParentsSince returns the first-parent chain from head back to (not
// including) stop, oldest first. A zero stop walks to the root commit.
func (r *Repo) firstParentsSince(ctx context.Context, head, stop plumbing.Hash) ([]*object.Commit, error) {
	var chain []*object.Commit
	h := head
	for h != stop {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if h.IsZero() {
			return nil, fmt.Errorf("changes since %s: %w %q", stop, ErrUnknownCommit, r.opts.branch)
		}
		c, err := r.git.CommitObject(h)
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", h, err)
		}
		chain = append(chain, c)
		if len(c.ParentHashes) == 0 {
			h = plumbing.ZeroHash
			if stop.IsZero() {
				break
			}
			continue
		}
		h = c.ParentHashes[0]
	}
	slices.Reverse(chain)
	return chain, nil
}

// branchState is the migrations folder as merged so far.
type branchState struct {
	files map[string]fileEntry // by base name
	valid map[string]bool      // the file was accepted when merged
	used  map[int64]string     // every version ever merged -> path
	max   int64
}

func newBranchState(size int) *branchState {
	return &branchState{files: make(map[string]fileEntry, size), valid: make(map[string]bool, size), used: make(map[int64]string, size)}
}

// seed records the baseline folder: everything there counts as merged.
func (st *branchState) seed(entries []fileEntry) {
	for _, e := range entries {
		st.files[e.name] = e
		st.valid[e.name] = true
		if e.version > 0 {
			st.used[e.version] = e.path
			st.max = max(st.max, e.version)
		}
	}
}

// applyCommit applies what commit c changed in the folder (from
// diffRawTrees) to st, appending change requests and errors to cs.
func (r *Repo) applyCommit(st *branchState, c *object.Commit, changed, gone []fileEntry, cs *ChangeSet) {
	var added []fileEntry
	for _, e := range changed {
		_, had := st.files[e.name]
		switch {
		case !had:
			added = append(added, e)
		case !st.valid[e.name]:
			// A file rejected when merged may be fixed in place.
			added = append(added, e)
		default:
			cs.Errors = append(cs.Errors, r.commitErr(c, e.path, migration.ErrChecksumDrift,
				"edited after it was merged; merged migrations are immutable: add a new migration instead"))
			st.files[e.name] = e
		}
	}
	var deleted []fileEntry
	for _, g := range gone {
		if old, ok := st.files[g.name]; ok {
			deleted = append(deleted, old)
		}
	}
	sort.SliceStable(added, func(i, j int) bool { return added[i].version < added[j].version })
	renamed := map[string]bool{}
	for _, d := range deleted {
		delete(st.files, d.name)
		wasValid := st.valid[d.name]
		delete(st.valid, d.name)
		if !wasValid {
			continue // a rejected file may go away
		}
		// A same-version rename with identical content is harmless to
		// goose, which tracks versions only.
		if i := slices.IndexFunc(added, func(a fileEntry) bool { return a.version == d.version && a.version > 0 }); i >= 0 {
			a := added[i]
			renamed[a.name] = true
			st.files[a.name], st.valid[a.name], st.used[a.version] = a, true, a.path
			if a.hash != d.hash {
				cs.Errors = append(cs.Errors, r.commitErr(c, a.path, migration.ErrChecksumDrift,
					"renamed from %s and edited after it was merged", d.name))
			}
			continue
		}
		cs.Errors = append(cs.Errors, r.commitErr(c, d.path, migration.ErrDeleted,
			"deleted after it was merged; goose keeps it applied: add a new migration that reverts it instead"))
	}
	for _, a := range added {
		if renamed[a.name] {
			continue
		}
		r.addFile(st, c, a, cs)
	}
}

// addFile validates one file added by commit c.
func (r *Repo) addFile(st *branchState, c *object.Commit, a fileEntry, cs *ChangeSet) {
	st.files[a.name] = a
	m, merr := r.parseBlob(a)
	var problem *migration.MigrationError
	switch {
	case a.version > 0 && st.used[a.version] != "" && st.used[a.version] != a.path:
		problem = r.commitErr(c, a.path, migration.ErrDuplicateVersion, "version %d is already used by %s", a.version, st.used[a.version])
	case a.version > 0 && a.version < st.max:
		problem = r.commitErr(c, a.path, migration.ErrOutOfOrder,
			"version %d is lower than %d (%s), already merged; renumber it above %d", a.version, st.max, st.used[st.max], st.max)
	case merr != nil:
		e := *merr
		e.Commit = c.Hash.String()
		e.Msg += fmt.Sprintf(" (commit %.7s)", e.Commit)
		problem = &e
	}
	if a.version > 0 {
		if st.used[a.version] == "" {
			st.used[a.version] = a.path
		}
		st.max = max(st.max, a.version)
	}
	if problem != nil {
		cs.Errors = append(cs.Errors, problem)
		st.valid[a.name] = false
		return
	}
	st.valid[a.name] = true
	cs.Changes = append(cs.Changes, ChangeRequest{
		Migration:   m,
		Commit:      c.Hash.String(),
		Author:      c.Author.Name,
		AuthorEmail: c.Author.Email,
		Message:     strings.TrimSpace(c.Message),
		PR:          PRNumber(c.Message),
		MergedAt:    c.Committer.When,
	})
}

func (r *Repo) commitErr(c *object.Commit, file string, kind error, format string, args ...any) *migration.MigrationError {
	e := migration.Errorf(file, 0, kind, format, args...)
	e.Commit = c.Hash.String()
	e.Msg += fmt.Sprintf(" (commit %.7s)", e.Commit)
	return e
}
