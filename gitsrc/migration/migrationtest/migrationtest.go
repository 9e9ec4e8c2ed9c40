// Package migrationtest has test helpers for code that takes migration
// files: valid goose files to feed it, and a check of the errors it
// reports for bad ones (package migration's *MigrationError).
package migrationtest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// AssertError fails t unless err is a *migration.MigrationError of kind at
// file:line whose message contains msg and whose text starts with the file.
func AssertError(t testing.TB, err error, file string, line int, kind error, msg string) {
	t.Helper()
	var me *migration.MigrationError
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T) is not a *MigrationError", err, err)
	}
	if !errors.Is(err, kind) {
		t.Errorf("kind = %v, want %v (error %q)", me.Kind, kind, err)
	}
	if me.File != file || me.Line != line {
		t.Errorf("position = %s:%d, want %s:%d (error %q)", me.File, me.Line, file, line, err)
	}
	if !strings.Contains(me.Msg, msg) {
		t.Errorf("message %q does not contain %q", me.Msg, msg)
	}
	if !strings.HasPrefix(err.Error(), file) {
		t.Errorf("Error() = %q does not start with the file", err)
	}
}

// Source is a valid goose file with front matter (risk) and both sections.
func Source(risk int, up, down string) string {
	return fmt.Sprintf("-- ---\n-- risk: %d\n-- ---\n-- +goose Up\n%s\n-- +goose Down\n%s\n", risk, up, down)
}
