package gitsrc

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
	"gopkg.in/yaml.v3"
)

// approvalFile is where LocalForge records the approvals of a version.
func approvalFile(version int64) string { return fmt.Sprintf("approvals/%d.md", version) }

type approvalDoc struct {
	Version   int64      `yaml:"version"`
	Approvals []Approval `yaml:"approvals"`
}

// parseApprovals reads an approvals file (front matter holds the list).
func parseApprovals(doc []byte) ([]Approval, error) {
	if len(doc) == 0 {
		return nil, nil
	}
	rest, ok := bytes.CutPrefix(doc, []byte("---\n"))
	if !ok {
		return nil, fmt.Errorf("approvals file does not start with front matter")
	}
	fm, _, ok := bytes.Cut(rest, []byte("\n---\n"))
	if !ok {
		return nil, fmt.Errorf("approvals file front matter is not terminated")
	}
	var d approvalDoc
	if err := yaml.Unmarshal(fm, &d); err != nil {
		return nil, fmt.Errorf("approvals file: %w", err)
	}
	return d.Approvals, nil
}

func renderApprovals(version int64, list []Approval) ([]byte, error) {
	fm, err := yaml.Marshal(approvalDoc{Version: version, Approvals: list})
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("---\n")
	b.Write(fm)
	fmt.Fprintf(&b, "---\n\n# Approvals of change %d\n\n| at | by | allowed | reason |\n| --- | --- | --- | --- |\n", version)
	for _, a := range list {
		fmt.Fprintf(&b, "| %s | %s | %v | %s |\n", mdTime(a.At), mdCell(a.By), a.Allowed, mdCell(a.Reason))
	}
	return []byte(b.String()), nil
}

// RecordApproval records that by approves the change ref names (version,
// file SHA-256 and merge commit), as approvals/<version>.md on the audit
// branch (one commit). When by is not a configured approver
// (WithLocalApprovers), the refusal is recorded too and the error wraps
// ErrApprovalRefused. Recording the same approver twice for the same
// content returns the first approval and commits nothing.
func (f *LocalForge) RecordApproval(ctx context.Context, ref ChangeRef, by, reason string) (Approval, error) {
	by = strings.TrimSpace(by)
	version := ref.Version
	if version <= 0 || by == "" || ref.SHA256 == "" {
		return Approval{}, fmt.Errorf("record approval: version, file SHA-256 and approver are required")
	}
	ap := Approval{By: by, At: f.now().UTC().Truncate(time.Second), Allowed: f.approvers[by],
		Reason: singleLine(reason), Permission: "local", SHA256: ref.SHA256, MergeCommit: ref.MergeCommit}
	path := approvalFile(version)
	_, err := f.audit.update(ctx, func(tip *object.Tree) (map[string][]byte, string, error) {
		old, _, err := treeFileBytes(tip, path)
		if err != nil {
			return nil, "", err
		}
		list, err := parseApprovals(old)
		if err != nil {
			return nil, "", err
		}
		for _, e := range list {
			if e.By == by && e.Allowed == ap.Allowed && e.SHA256 == ap.SHA256 && e.MergeCommit == ap.MergeCommit {
				ap = e
				return nil, "", nil
			}
		}
		doc, err := renderApprovals(version, append(list, ap))
		if err != nil {
			return nil, "", err
		}
		subject := "approved by " + by
		if !ap.Allowed {
			subject = "approval by " + by + " refused"
		}
		return map[string][]byte{path: doc}, noteMessage(version, subject, "Approved-By", by), nil
	})
	if err != nil {
		return Approval{}, fmt.Errorf("record approval %d by %s: %w", version, by, err)
	}
	if !ap.Allowed {
		f.log.Warn("approval refused", "change", version, "by", by)
		return ap, fmt.Errorf("record approval %d: %w: %s is not a configured approver", version, ErrApprovalRefused, by)
	}
	f.log.Info("approval recorded", "change", version, "by", by, "reason", ap.Reason)
	return ap, nil
}

// Approvals returns the approvals recorded for ref.Version, oldest first.
// The file is on a branch anyone who can push may write, so nothing in it
// is taken on trust: an entry counts (Allowed) only when its approver is in
// the configured allow-list (WithLocalApprovers; without one, no entry
// counts) and it names this change's file SHA-256 and merge commit (a later
// edit of the file voids it). Every other entry is listed with Why, and
// reported in the log.
func (f *LocalForge) Approvals(ctx context.Context, ref ChangeRef) ([]Approval, error) {
	doc, _, err := f.audit.readFile(ctx, approvalFile(ref.Version))
	if err != nil {
		return nil, fmt.Errorf("approvals %d: %w", ref.Version, err)
	}
	list, err := parseApprovals(doc)
	if err != nil {
		return nil, fmt.Errorf("approvals %d: %w", ref.Version, err)
	}
	for i := range list {
		a := &list[i]
		a.Allowed, a.Why = false, ""
		switch {
		case f.approvers == nil:
			a.Why = "no approvers are configured (forge.approvers): the local forge counts no approval file"
		case !f.approvers[a.By]:
			a.Why = fmt.Sprintf("%s is not in forge.approvers", a.By)
		case a.SHA256 != ref.SHA256 || a.MergeCommit != ref.MergeCommit:
			a.Why = "it approves other content or another merge of this version (the file changed since)"
		default:
			a.Allowed = true
		}
		if !a.Allowed {
			f.log.Warn("approval file entry ignored", "change", ref.Version, "by", a.By, "why", a.Why)
		}
	}
	return list, nil
}
