package analysis

import (
	"context"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// FuzzAnalyze feeds arbitrary SQL (as a goose Up/Down pair and as plain
// SQL) through Analyze: it must never panic, must locate every finding
// inside the file, and must produce a complete feature vector.
func FuzzAnalyze(f *testing.F) {
	for _, seed := range []string{
		"ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();",
		"CREATE INDEX CONCURRENTLY i ON t (c);\nDROP INDEX i;",
		"DO $$ BEGIN EXECUTE 'ALTER TABLE t DROP COLUMN c'; END $$;",
		"BEGIN; ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID; ALTER TABLE t VALIDATE CONSTRAINT c; COMMIT;",
		"-- schemacanary:ignore ban-drop-table, x reason\nDROP TABLE t CASCADE;",
		"UPDATE t SET a = 1, a.b = 2;", "ALTER TABLE t ADD COLUMN ;", "SELECT 'unterminated",
		"CREATE TABLE t (a int, a int); TRUNCATE t CASCADE; REINDEX TABLE t; VACUUM FULL t;",
	} {
		f.Add(seed, seed)
	}
	names := FeatureNames()
	f.Fuzz(func(t *testing.T, up, down string) {
		lines := strings.Count(up, "\n") + strings.Count(down, "\n") + 3
		for _, m := range []migration.Migration{
			{Path: "f.sql", Sections: migration.Sections{Up: []migration.Statement{{SQL: up, Line: 2}}, Down: []migration.Statement{{SQL: down, Line: 3 + strings.Count(up, "\n")}}, HasDown: true}},
			{Path: "p.sql", Plain: true, Source: []byte(up), Sections: migration.Sections{Up: []migration.Statement{{SQL: up, Line: 1}}}},
		} {
			r, err := Analyze(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			for _, fd := range r.Findings {
				if fd.Line < 1 || fd.Line > lines || fd.Column < 0 {
					t.Fatalf("finding outside the file (%d lines): %+v", lines, fd)
				}
				if _, ok := ruleByID(fd.RuleID); !ok {
					t.Fatalf("finding of unknown rule %q", fd.RuleID)
				}
			}
			feats := r.Features()
			for _, n := range names {
				if _, ok := feats[n]; !ok {
					t.Fatalf("feature %s missing", n)
				}
			}
		}
	})
}
