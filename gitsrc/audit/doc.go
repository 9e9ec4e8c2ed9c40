// Package audit writes and reads the audit branch: an orphan branch
// (schemacanary-audit) of the migrations repository with one Markdown
// record per change (changes/<version>.md) and one commit per transition,
// whose trailers (Change-Version, From, State, Actor, ...) let SREs read a
// change's whole lifecycle with git log. Commits are built straight in the
// object store (no worktree) and pushed with retries, so several writers
// and a crash never lose or duplicate a transition.
package audit
