package audit

import (
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// Signature is the author/committer of schemacanary's commits.
func Signature(name, email string, now time.Time) object.Signature {
	return object.Signature{Name: name, Email: email, When: now.UTC().Truncate(time.Second)}
}

// Author is the name and email the audit branch's commits are made with
// (WithAuditAuthor).
func (a *Audit) Author() (name, email string) { return a.name, a.email }
