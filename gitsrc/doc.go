// Package gitsrc is the Git side of schemacanary: the mirror of the
// migrations repository (go-git), the migrations at a commit and what
// changed between two commits, open proposals (pull-request branches), the
// forges (GitHub through go-github, and a local forge made of branches in
// the repository itself) and the orphan audit branch.
//
// The format of one migration file lives in the leaf package
// gitsrc/migration; this package reads files from Git and hands out
// *migration.Migration values.
package gitsrc
