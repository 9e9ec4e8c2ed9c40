package migration_test

import (
	"errors"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
)

// good is a valid strict migration the table below mutates.
const good = `-- ---
-- risk: 7            # required
-- owner: payments
-- ticket: DBA-142
-- bake: 15m
-- allow_data_loss: false
-- ---
-- +goose Up
ALTER TABLE orders ADD COLUMN note text;
-- +goose Down
ALTER TABLE orders DROP COLUMN note;
`

func TestParseMigrationErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		src  string
		kind error
		line int
		msg  string // substring of the message
	}{
		{"unknown key", "0001_a.sql", "-- ---\n-- risk: 3\n-- colour: red\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 3, `unknown key "colour"`},
		{"missing risk", "0001_a.sql", "-- ---\n-- owner: x\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 1, "risk is required"},
		{"empty front matter", "0001_a.sql", "-- ---\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 1, "risk is required"},
		{"risk too high", "0001_a.sql", "-- ---\n-- owner: x\n-- risk: 11\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 3, "risk 11 is out of range 1..10"},
		{"risk zero", "0001_a.sql", "-- ---\n-- risk: 0\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 2, "risk 0 is out of range"},
		{"risk negative", "0001_a.sql", "-- ---\n-- risk: -2\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 2, "risk -2 is out of range"},
		{"risk not a number", "0001_a.sql", "-- ---\n-- owner: x\n-- risk: high\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 3, "cannot unmarshal"},
		{"bad bake", "0001_a.sql", "-- ---\n-- risk: 2\n-- bake: soon\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 3, "invalid duration"},
		{"negative bake", "0001_a.sql", "-- ---\n-- risk: 2\n-- bake: -5m\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 3, "negative"},
		{"duplicate key", "0001_a.sql", "-- ---\n-- risk: 2\n-- risk: 3\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 3, `"risk" already defined`},
		{"bad yaml", "0001_a.sql", "-- ---\n-- risk: 2\n-- owner: [x\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 2, "did not find expected"}, // yaml.v3 reports the enclosing mapping's line
		{"unclosed front matter", "0001_a.sql", "-- ---\n-- risk: 2\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 4, "closing \"-- ---\" missing"},
		{"unclosed front matter at EOF", "0001_a.sql", "-- ---\n-- risk: 2\n",
			migration.ErrFrontMatter, 1, "never closed"},
		{"no front matter", "0001_a.sql", "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
			migration.ErrFrontMatter, 1, "no front matter"},
		{"missing down", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1;\n",
			migration.ErrMissingDown, 4, "add a '-- +goose Down'"},
		{"go migration", "migrations/0003_backfill.go", "package migrations\n",
			migration.ErrGoMigration, 0, "0003_backfill.go"},
		{"not sql", "0003_notes.txt", "x", migration.ErrBadFilename, 0, "not a .sql file"},
		{"no version", "add_note.sql", good, migration.ErrBadFilename, 0, "does not start with a positive version"},
		{"version zero", "0000_init.sql", good, migration.ErrBadFilename, 0, "positive version"},
		{"no separator", "0042.sql", good, migration.ErrBadFilename, 0, `no "_"`},
		{"no up", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n", migration.ErrGooseSyntax, 1, "no '-- +goose Up'"},
		{"sql before up", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\nSELECT 1;\n-- +goose Up\n", migration.ErrGooseSyntax, 4, "SQL before"},
		{"duplicate up", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Up\n", migration.ErrGooseSyntax, 6, "duplicate"},
		{"down before up", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Down\n", migration.ErrGooseSyntax, 4, "before '-- +goose Up'"},
		{"two downs", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n-- +goose Down\n", migration.ErrGooseSyntax, 8, "after another Down"},
		{"missing semicolon before down", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1;\nSELECT\n  2\n-- +goose Down\nSELECT 1;\n", migration.ErrGooseSyntax, 6, "missing semicolon"},
		{"missing semicolon at end", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\nDROP TABLE x\n", migration.ErrGooseSyntax, 8, "missing semicolon"},
		{"semicolon only in comment", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1 -- done;\n-- +goose Down\nSELECT 1;\n", migration.ErrGooseSyntax, 5, "missing semicolon"},
		{"statement begin without end", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- +goose Down\n", migration.ErrGooseSyntax, 7, "inside a StatementBegin"},
		{"statement begin without end at EOF", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\n-- +goose StatementBegin\nDROP FUNCTION f();\n", migration.ErrGooseSyntax, 8, "missing '-- +goose StatementEnd'"},
		{"statement end without begin", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose StatementEnd\n", migration.ErrGooseSyntax, 6, "without a StatementBegin"},
		{"nested statement begin", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\n-- +goose StatementBegin\n-- +goose StatementBegin\n", migration.ErrGooseSyntax, 6, "not nest"},
		{"statement begin before up", "0001_a.sql", "-- +goose StatementBegin\n-- +goose Up\n", migration.ErrGooseSyntax, 1, "must follow"},
		{"unknown annotation", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Sideways\n", migration.ErrGooseSyntax, 6, `unknown annotation "Sideways"`},
		{"indented annotation", "0001_a.sql", "-- ---\n-- risk: 2\n-- ---\n  -- +goose Up\n", migration.ErrGooseSyntax, 4, "leading whitespace"},
		{"two annotations on a line", "0001_a.sql", "-- +goose Up -- +goose Down\n", migration.ErrGooseSyntax, 1, "more than one"},
		{"empty annotation", "0001_a.sql", "-- +goose\n", migration.ErrGooseSyntax, 1, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := migration.ParseMigration(tt.file, []byte(tt.src))
			if err == nil {
				t.Fatalf("ParseMigration accepted the file: %+v", m)
			}
			migrationtest.AssertError(t, err, tt.file, tt.line, tt.kind, tt.msg)
		})
	}
}

func TestParseMigrationGood(t *testing.T) {
	t.Parallel()
	m, err := migration.ParseMigration("migrations/0042_add_note.sql", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 42 || m.Name != "add_note" || m.Filename() != "0042_add_note.sql" {
		t.Errorf("version/name = %d/%q/%q", m.Version, m.Name, m.Filename())
	}
	fm := m.FrontMatter
	if fm.Risk != 7 || fm.Owner != "payments" || fm.Ticket != "DBA-142" || fm.Bake.String() != "15m0s" || fm.AllowDataLoss {
		t.Errorf("front matter = %+v", fm)
	}
	if len(m.Up) != 1 || m.Up[0].Line != 9 || m.Up[0].SQL != "ALTER TABLE orders ADD COLUMN note text;" {
		t.Errorf("up = %+v", m.Up)
	}
	if len(m.Down) != 1 || m.Down[0].Line != 11 || !m.HasDown || m.UpLine != 8 || m.DownLine != 10 {
		t.Errorf("down = %+v, sections %+v", m.Down, m.Sections)
	}
	if len(m.SHA256) != 64 || m.NoTransaction {
		t.Errorf("sha %q notx %v", m.SHA256, m.NoTransaction)
	}
}

func TestParseLenientAcceptsThirdPartyFiles(t *testing.T) {
	t.Parallel()
	m, err := migration.ParseLenient("20240101120000_init.sql", []byte("-- +goose Up\nCREATE TABLE t (id int);\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 20240101120000 || m.HasDown || m.FrontMatter.Risk != 0 {
		t.Errorf("got %+v", m)
	}
	// Front matter present is still strict.
	_, err = migration.ParseLenient("0001_a.sql", []byte("-- ---\n-- risk: 99\n-- ---\n-- +goose Up\nSELECT 1;\n"))
	migrationtest.AssertError(t, err, "0001_a.sql", 2, migration.ErrFrontMatter, "out of range")
}

func FuzzParseMigration(f *testing.F) {
	f.Add("0001_a.sql", good)
	f.Add("0002_b.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose StatementEnd\n-- +goose Down\nSELECT 1;\n")
	f.Add("x.go", "package x\n")
	f.Add("0003.sql", "-- ---\n-- risk: 0\n-- ---\n")
	f.Fuzz(func(t *testing.T, name, src string) {
		m, err := migration.ParseMigration(name, []byte(src))
		if err != nil {
			var me *migration.MigrationError
			if !errors.As(err, &me) || migration.KindName(err) == "" {
				t.Fatalf("error is not a *MigrationError with a known kind: %v", err)
			}
			if me.File != name {
				t.Fatalf("error names %q, want %q", me.File, name)
			}
			return
		}
		if m.Version < 1 || m.FrontMatter.Risk < 1 || m.FrontMatter.Risk > 10 || !m.HasDown || m.UpLine < 1 || m.DownLine <= m.UpLine {
			t.Fatalf("accepted an invalid migration: %+v", m)
		}
		if string(m.Source) != src || len(m.SHA256) != 64 {
			t.Fatalf("source or digest not kept")
		}
	})
}
