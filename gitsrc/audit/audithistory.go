package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/schemacanary/schemacanary/gitsrc"
)

// Trailer keys of audit commit messages. A transition commit looks like
//
//	42 canary -> baking on pg-1
//
//	canary applied; baking 10m
//
//	Change-Version: 42
//	From: canary
//	State: baking
//	Instance: pg-1
//	At: 2026-11-25T12:00:00Z
//
// Commits without a State trailer (forge comments, approvals) are not
// transitions.
const (
	TrailerVersion  = "Change-Version"
	TrailerFrom     = "From"
	TrailerState    = "State"
	TrailerInstance = "Instance"
	TrailerStep     = "Step"
	TrailerActor    = "Actor"
	TrailerAt       = "At"
)

// transitionMessage is the commit message of tr.
func transitionMessage(tr Transition) string {
	from := tr.From
	if from == "" {
		from = "(new)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s -> %s", tr.Version, from, tr.To)
	if tr.Instance != "" {
		fmt.Fprintf(&b, " on %s", tr.Instance)
	}
	if tr.Step != "" {
		fmt.Fprintf(&b, " (%s)", SingleLine(tr.Step))
	}
	b.WriteString("\n\n")
	if tr.Reason != "" {
		b.WriteString(tr.Reason + "\n\n")
	}
	trailer := func(k, v string) {
		if v = SingleLine(v); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	trailer(TrailerVersion, strconv.FormatInt(tr.Version, 10))
	trailer(TrailerFrom, tr.From)
	trailer(TrailerState, tr.To)
	trailer(TrailerInstance, tr.Instance)
	trailer(TrailerStep, tr.Step)
	trailer(TrailerActor, tr.Actor)
	trailer(TrailerAt, tr.At.UTC().Format(time.RFC3339))
	return b.String()
}

// parseTrailers returns the "Key: value" lines of a message's last
// paragraph.
func parseTrailers(msg string) map[string]string {
	paras := strings.Split(strings.TrimSpace(msg), "\n\n")
	out := map[string]string{}
	if len(paras) < 2 {
		return out
	}
	for _, line := range strings.Split(paras[len(paras)-1], "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok || strings.ContainsAny(k, " \t") {
			return map[string]string{}
		}
		out[k] = strings.TrimSpace(v)
	}
	return out
}

// parseTransition reads a transition from an audit commit; ok is false for
// commits that are not transitions.
func parseTransition(c *object.Commit) (Transition, bool) {
	tr := parseTrailers(c.Message)
	state, ok := tr[TrailerState]
	if !ok {
		return Transition{}, false
	}
	v, err := strconv.ParseInt(tr[TrailerVersion], 10, 64)
	if err != nil {
		return Transition{}, false
	}
	t := Transition{
		Version: v, From: tr[TrailerFrom], To: state, Instance: tr[TrailerInstance],
		Step: tr[TrailerStep], Actor: tr[TrailerActor], Commit: c.Hash.String(), At: c.Committer.When.UTC(),
	}
	if at, err := time.Parse(time.RFC3339, tr[TrailerAt]); err == nil {
		t.At = at.UTC()
	}
	paras := strings.Split(strings.TrimSpace(c.Message), "\n\n")
	if len(paras) == 3 {
		t.Reason = SingleLine(paras[1])
	}
	return t, true
}

// ErrNoAudit is returned by History when the audit branch does not exist.
var ErrNoAudit = errors.New("no audit branch")

// History returns the transitions recorded on the audit branch, oldest
// first, read from the commit log (first parents only). version 0 returns
// every change's transitions. It reads the local branch, fetching the
// remote's first when there is one. Memory grows with the result only.
func (a *Audit) History(ctx context.Context, version int64) ([]Transition, error) {
	tip, err := a.tip(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit history: %w", err)
	}
	if tip == nil {
		return nil, fmt.Errorf("audit history: %w %s", ErrNoAudit, a.branch)
	}
	var out []Transition
	for c := tip; c != nil; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if t, ok := parseTransition(c); ok && (version == 0 || t.Version == version) {
			out = append(out, t)
		}
		if c.NumParents() == 0 {
			break
		}
		p, err := c.Parent(0)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("audit history: %w", err)
		}
		c = p
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// ReadChange returns the audit file of version (changes/<version>.md) at
// the branch tip; ok is false when the change has none.
func (a *Audit) ReadChange(ctx context.Context, version int64) (doc []byte, ok bool, err error) {
	return a.ReadFile(ctx, changeFile(version))
}

// tip fetches (with a remote) and returns the branch's tip commit, nil
// when the branch does not exist.
// A failed fetch is logged and the local copy read instead (the local
// branch, else the refs/remotes/ branch a plain `git fetch` made), so
// history stays readable offline or without credentials.
func (a *Audit) tip(ctx context.Context) (*object.Commit, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, err := a.sync(ctx)
	if err == nil || ctx.Err() != nil {
		return c, err
	}
	for _, name := range []plumbing.ReferenceName{a.localRef(), plumbing.NewRemoteReferenceName(a.remote, a.branch)} {
		if c := a.commitAt(name); c != nil {
			a.log.Warn("audit fetch failed; reading the local copy", "branch", a.branch, "ref", name.String(), "err", err)
			return c, nil
		}
	}
	return nil, err
}

// ReadFile returns a file of the branch's tip; ok is false when absent.
func (a *Audit) ReadFile(ctx context.Context, path string) (doc []byte, ok bool, err error) {
	tip, err := a.tip(ctx)
	if err != nil || tip == nil {
		return nil, false, err
	}
	t, err := tip.Tree()
	if err != nil {
		return nil, false, fmt.Errorf("audit read %s: %w", path, err)
	}
	return gitsrc.TreeFileBytes(t, path)
}
