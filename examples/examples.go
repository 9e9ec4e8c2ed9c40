// Package examples ships the example migrations inside the binary, so
// `schemacanary demo` runs from anywhere, and is the home of the tests that
// run every file under examples/ (STYLE.md: every example is run by the
// test suite).
package examples

import "embed"

// Migrations holds migrations/*.sql: the shop schema's history, the base
// the demo starts from.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// DemoChanges holds demo/*.sql: the three changes the demo pushes one by
// one (safe, harmful, risky), in version order.
//
//go:embed demo/*.sql
var DemoChanges embed.FS
