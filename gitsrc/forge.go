package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Forge is what the reconciler needs from the place the migrations are
// reviewed: GitHub (GitHub) or the Git repository itself (LocalForge).
//
// Every method is idempotent so the reconciler can repeat a step after a
// crash without duplicating its effect; each method documents how.
// Implementations are safe for use by one goroutine at a time (the
// reconciler's loop); they hold no state between calls that a restart loses.
type Forge interface {
	// UpsertPrediction writes the sticky prediction comment of a change that
	// is still under review (ref.PR of an open PR; LocalForge keys it by
	// ref.Version). The comment carries the hidden marker PredictionMarker;
	// a later call edits that comment instead of adding one, and a call
	// whose body equals the current one changes nothing.
	UpsertPrediction(ctx context.Context, ref ChangeRef, body string) error

	// Comment posts a one-off comment (decision, outcome) about a change.
	// key names the comment within the change (e.g. "decision",
	// "outcome"); it is stored in a hidden marker, and a second call with
	// the same ref and key posts nothing. A ref with PR == 0 on GitHub has
	// nowhere to post: the call logs and returns nil.
	Comment(ctx context.Context, ref ChangeRef, key, body string) error

	// OpenRevert creates the branch RevertBranch(ref.Version) holding one
	// commit that reverts ref.MergeCommit on top of the watched branch,
	// and (GitHub) a pull request from it whose body is req.Body.
	// Calling it again returns the same branch and pull request. It fails
	// with ErrRevertConflict when files of the merge were changed again
	// on the watched branch since.
	OpenRevert(ctx context.Context, req RevertRequest) (*Revert, error)

	// RevertMerged reports whether the revert of ref has landed on the
	// watched branch. It has no side effect besides fetching.
	RevertMerged(ctx context.Context, ref ChangeRef) (bool, error)

	// Approvals lists the approvals given for a change, oldest first,
	// including refused ones (Allowed == false). On GitHub an approval is a
	// "/schemacanary approve [reason]" comment on ref.PR; a refused
	// approver gets one reply, never two. Repeated calls return the same
	// list plus any newer approvals.
	Approvals(ctx context.Context, ref ChangeRef) ([]Approval, error)
}

// PredictionMarker is the hidden HTML comment that identifies the sticky
// prediction comment on a pull request.
const PredictionMarker = "<!-- schemacanary:prediction -->"

// ApproveCommand is the comment prefix that approves a change on GitHub.
const ApproveCommand = "/schemacanary approve"

// ChangeRef identifies one change request for a Forge. Version is always
// set; the other fields are set when known.
type ChangeRef struct {
	// Version is the migration's goose version.
	Version int64 `json:"version"`
	// Path is the migration file, repository-relative.
	Path string `json:"path,omitempty"`
	// PR is the pull request number (0 when unknown or local).
	PR int `json:"pr,omitempty"`
	// MergeCommit is the full hex SHA of the commit that brought the
	// migration onto the watched branch (a merge or squash commit).
	MergeCommit string `json:"merge_commit,omitempty"`
	// SHA256 is the hex SHA-256 of the migration file: an approval binds
	// to it.
	SHA256 string `json:"sha256,omitempty"`
}

// RevertRequest asks a Forge to open a revert of a change.
type RevertRequest struct {
	// Change is the change to revert; Version and MergeCommit are required.
	Change ChangeRef
	// Title is the pull request title; empty means
	// "Revert migration <version> (schemacanary rollback)".
	Title string
	// Body explains why: which KPIs failed, on which instances.
	Body string
}

// Revert is an opened revert of a change.
type Revert struct {
	// Branch is RevertBranch(version), e.g. "schemacanary/revert-42".
	Branch string `json:"branch"`
	// Commit is the SHA of the revert commit at the branch's tip.
	Commit string `json:"commit"`
	// PR is the pull request number (0 for LocalForge).
	PR int `json:"pr,omitempty"`
	// URL is the pull request's web page, or for LocalForge the remote's
	// URL followed by "#<branch>" ("" without a remote).
	URL string `json:"url,omitempty"`
}

// Approval is one approval attempt of a change.
type Approval struct {
	// By is the approver's login (GitHub) or the --by name (local).
	By string `json:"by"`
	// At is when the approval was given.
	At time.Time `json:"at"`
	// Allowed reports whether the approver may approve (write or admin
	// permission on GitHub; the configured approvers, or anyone, locally).
	Allowed bool `json:"allowed"`
	// Reason is the text after the approve command, or the --reason flag.
	Reason string `json:"reason,omitempty"`
	// Permission is the approver's permission on the repository as the
	// forge reported it ("admin", "write", "read", "none"; "local").
	Permission string `json:"permission,omitempty"`
	// PR is the pull request the approval was given on (GitHub).
	PR int `json:"pr,omitempty"`
	// SHA256 and MergeCommit are the file content and the merge the
	// approval was given for (LocalForge records them; on GitHub the pull
	// request that merged the commit binds it).
	SHA256      string `json:"sha256,omitempty" yaml:"sha256,omitempty"`
	MergeCommit string `json:"merge_commit,omitempty" yaml:"merge_commit,omitempty"`
	// Why says why an approval does not count (Allowed false).
	Why string `json:"why,omitempty"`
}

// RevertBranch is the name of the branch that holds the revert of version.
func RevertBranch(version int64) string {
	return fmt.Sprintf("schemacanary/revert-%d", version)
}

// Sentinel outcomes of Forge methods; test with errors.Is.
var (
	// ErrRevertConflict: a file the merge changed was changed again on the
	// watched branch, so a revert cannot be computed without a human.
	ErrRevertConflict = errors.New("revert conflicts with later changes")
	// ErrApprovalRefused: the approver lacks the permission to approve
	// (LocalForge.RecordApproval).
	ErrApprovalRefused = errors.New("approval refused")
	// ErrRateLimited: the forge's rate limit would make us wait longer
	// than allowed (see WithMaxRateLimitWait).
	ErrRateLimited = errors.New("rate limited")
)

func revertTitle(req RevertRequest) string {
	if req.Title != "" {
		return req.Title
	}
	return fmt.Sprintf("Revert migration %d (schemacanary rollback)", req.Change.Version)
}

func commentMarker(key string) string {
	return fmt.Sprintf("<!-- schemacanary:comment key=%s -->", key)
}

// withMarker returns body starting with the hidden marker (added once).
func withMarker(marker, body string) string {
	if strings.HasPrefix(body, marker) {
		return body
	}
	return marker + "\n" + body
}
