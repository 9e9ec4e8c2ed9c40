// Package layout holds no code: its test checks the import arrows between
// the project's packages (docs/architecture.md), so a package that reaches
// back up into the loop, or two peers that start to know each other, fail
// `make test` instead of waiting for a reviewer to notice.
package layout
