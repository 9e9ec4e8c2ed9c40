// Package gitsrc is the migrations repository: its mirror (go-git), the
// migrations at a commit, what changed between two commits, and open
// proposals (pull-request branches); plus the helpers that write Git
// objects without a worktree (gittree.go), which the audit branch and the
// forges' revert branches share.
//
// The format of one migration file lives in the leaf package
// gitsrc/migration; the audit branch in gitsrc/audit; GitHub and the local
// forge in gitsrc/forge. This package reads files from Git and hands out
// *migration.Migration values.
package gitsrc
