package gitsrc

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// Proposal is an unmerged branch (or GitHub pull request head) that touches
// the migrations folder, judged as if it were merged into the watched
// branch's current head.
type Proposal struct {
	// Ref is the remote's ref: "refs/heads/<branch>" or
	// "refs/pull/<n>/head".
	Ref string `json:"ref"`
	// Branch is the remote branch name ("" for a pull-request ref).
	Branch string `json:"branch,omitempty"`
	// PR is the pull-request number of a refs/pull ref, else 0.
	PR int `json:"pr,omitempty"`
	// Head is the proposal's tip and Base its merge base with the
	// watched branch.
	Head string `json:"head"`
	Base string `json:"base"`
	// Author, Message and UpdatedAt describe the tip commit.
	Author    string    `json:"author"`
	Message   string    `json:"message"`
	UpdatedAt time.Time `json:"updated_at"`
	// Changes are the migrations the proposal adds (Commit = Head).
	Changes []ChangeRequest `json:"changes"`
	// Errors are its violations relative to the watched branch: edits or
	// deletions of merged files, versions that collide with or fall below
	// what the watched branch has merged meanwhile, and bad files.
	Errors []*migration.MigrationError `json:"errors,omitempty"`
}

// Proposals lists every fetched branch other than the watched one, and every
// refs/pull/N/head, that changes the migrations folder relative to its merge
// base with the watched branch, in ref order. Branches already merged (their
// tip is in the watched branch) are left out. A pull-request ref whose head
// equals a listed branch's head is still listed: it carries the PR number.
func (r *Repo) Proposals(ctx context.Context) ([]Proposal, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	headHash, err := r.headHash()
	if err != nil {
		return nil, err
	}
	head, err := r.git.CommitObject(headHash)
	if err != nil {
		return nil, fmt.Errorf("proposals: head %s: %w", headHash, err)
	}
	headEntries, err := r.folderEntries(head)
	if err != nil {
		return nil, err
	}
	refs := r.proposalRefs()
	var out []Proposal
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, ok, err := r.proposal(head, headEntries, ref)
		if err != nil {
			return nil, fmt.Errorf("proposal %s: %w", ref.Name(), err)
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func (r *Repo) proposalRefs() []*plumbing.Reference {
	watched := plumbing.NewBranchReferenceName(r.opts.branch)
	var refs []*plumbing.Reference
	for name, h := range r.refs {
		if name != watched {
			refs = append(refs, plumbing.NewHashReference(name, h))
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Name() < refs[j].Name() })
	return refs
}

func (r *Repo) proposal(head *object.Commit, headEntries []fileEntry, ref *plumbing.Reference) (Proposal, bool, error) {
	tip, err := r.git.CommitObject(ref.Hash())
	if err != nil {
		return Proposal{}, false, err
	}
	bases, err := tip.MergeBase(head)
	if err != nil {
		return Proposal{}, false, fmt.Errorf("merge base: %w", err)
	}
	var base *object.Commit
	baseFolder := plumbing.ZeroHash
	if len(bases) > 0 {
		base = bases[0]
		if base.Hash == tip.Hash {
			return Proposal{}, false, nil // already merged
		}
		if baseFolder, err = r.folderHash(base); err != nil {
			return Proposal{}, false, err
		}
	}
	tipFolder, err := r.folderHash(tip)
	if err != nil {
		return Proposal{}, false, err
	}
	if tipFolder == baseFolder {
		return Proposal{}, false, nil // does not touch the folder
	}
	baseEntries, err := r.entriesOf(baseFolder)
	if err != nil {
		return Proposal{}, false, err
	}
	tipEntries, err := r.entriesOf(tipFolder)
	if err != nil {
		return Proposal{}, false, err
	}
	// Judge the proposal's own changes (base -> tip) against what the
	// watched branch has merged by now: seed with the head's folder plus
	// what the base had (a file the branch edits may be gone on head).
	st := newBranchState(len(headEntries) + len(tipEntries))
	st.seed(headEntries)
	merged := map[string]fileEntry{}
	for _, e := range baseEntries {
		merged[e.name] = e
	}
	var cs ChangeSet
	var adds []fileEntry
	for _, e := range tipEntries {
		old, had := merged[e.name]
		switch {
		case !had:
			if cur, onHead := st.files[e.name]; onHead {
				if cur.hash != e.hash {
					cs.Errors = append(cs.Errors, r.commitErr(tip, e.path, migration.ErrDuplicateVersion,
						"%s was merged meanwhile with different content; rebase and renumber", e.name))
				}
				continue // the same file was merged meanwhile
			}
			adds = append(adds, e)
		case old.hash != e.hash:
			cs.Errors = append(cs.Errors, r.commitErr(tip, e.path, migration.ErrChecksumDrift,
				"edits a merged migration; merged migrations are immutable: add a new migration instead"))
		}
		delete(merged, e.name)
	}
	for _, d := range sortedEntries(merged) {
		cs.Errors = append(cs.Errors, r.commitErr(tip, d.path, migration.ErrDeleted,
			"deletes a merged migration; add a new migration that reverts it instead"))
	}
	sort.SliceStable(adds, func(i, j int) bool { return adds[i].version < adds[j].version })
	for _, a := range adds {
		r.addFile(st, tip, a, &cs)
	}
	p := Proposal{
		Ref:       ref.Name().String(),
		Head:      tip.Hash.String(),
		Author:    tip.Author.Name,
		Message:   strings.TrimSpace(tip.Message),
		UpdatedAt: tip.Committer.When,
		Changes:   cs.Changes,
		Errors:    cs.Errors,
	}
	if base != nil {
		p.Base = base.Hash.String()
	}
	if b, ok := strings.CutPrefix(p.Ref, "refs/heads/"); ok {
		p.Branch = b
	} else if n, ok := strings.CutPrefix(p.Ref, "refs/pull/"); ok {
		p.PR, _ = strconv.Atoi(strings.TrimSuffix(n, "/head"))
	}
	return p, len(p.Changes)+len(p.Errors) > 0, nil
}

func sortedEntries(m map[string]fileEntry) []fileEntry {
	out := make([]fileEntry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
