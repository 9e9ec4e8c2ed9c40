// Package forge is where reviewers meet schemacanary: the sticky
// prediction comment on a pull request, outcome comments, approvals (with
// the permission check and the binding to the file and merge commit) and
// revert pull requests. GitHub is reached through go-github; the local
// forge keeps the same things as files and branches in the repository
// itself (comments and approvals on the audit branch), for fleets without
// GitHub and for the demo.
package forge
