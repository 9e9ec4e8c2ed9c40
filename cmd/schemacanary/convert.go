package main

import (
	"bytes"
	"errors"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/analysis"
)

// plainSQL is a file without goose annotations: one Up section, linted as
// plain SQL.
func plainSQL(path string, src []byte) migration.Migration {
	return migration.Migration{Path: path, Plain: true, Source: src,
		Sections: migration.Sections{Up: []migration.Statement{{SQL: string(src), Line: 1}}}}
}

// isGooseFile reports whether src carries goose annotations: a line
// that starts with "--" (after blanks) and mentions "+goose".
func isGooseFile(src []byte) bool {
	for line := range bytes.Lines(src) {
		if l := bytes.TrimSpace(line); bytes.HasPrefix(l, []byte("--")) && bytes.Contains(l, []byte("+goose")) {
			return true
		}
	}
	return false
}

// loadMigration reads one file the way lint does: goose files through
// gitsrc's lenient parser (front matter and Down optional; a file name
// without a version is accepted with version 0), plain SQL as Up only.
// A file goose cannot parse comes back as a *gitsrc.MigrationError.
func loadMigration(path string, src []byte) (migration.Migration, error) {
	if !isGooseFile(src) {
		return plainSQL(path, src), nil
	}
	m, err := migration.ParseLenient(path, src)
	if errors.Is(err, migration.ErrBadFilename) {
		var secs *migration.Sections
		if secs, err = migration.ParseSections(path, src); err == nil {
			m = &migration.Migration{Path: path, Sections: *secs, Source: src}
		}
	}
	if err != nil {
		return migration.Migration{}, err
	}
	return *m, nil
}

// parseErrorReport turns a goose parse error into a report with one
// goose-syntax finding, so it is printed like any other finding.
func parseErrorReport(path string, err error) *analysis.Report {
	line, msg := 1, err.Error()
	var me *migration.MigrationError
	if errors.As(err, &me) {
		if me.Line > 0 {
			line = me.Line
		}
		msg = me.Kind.Error()
		if me.Msg != "" {
			msg += ": " + me.Msg
		}
	}
	return &analysis.Report{Path: path, Tables: []string{}, Findings: []analysis.Finding{{
		RuleID: "goose-syntax", Severity: analysis.SeverityError, Message: msg,
		Fix: "fix the goose annotation at this line", File: path, Line: line, Column: 1, Statement: -1,
	}}}
}
