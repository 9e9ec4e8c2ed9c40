package analysis

import (
	"context"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

func analyzeSrc(t *testing.T, src string, opts ...Option) *Report {
	t.Helper()
	rep, err := Analyze(context.Background(), loadTestMigration("00001_change.sql", []byte(src)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestEveryRuleHasAClass keeps the class table complete.
func TestEveryRuleHasAClass(t *testing.T) {
	known := map[Class]bool{}
	for _, c := range Classes() {
		known[c] = true
	}
	for _, r := range Rules() {
		if !known[r.Class] {
			t.Errorf("rule %s has class %q", r.ID, r.Class)
		}
	}
}

// TestGateFailsWhatCannotSucceed: every statement PostgreSQL or goose
// rejects as written is a certain failure, whatever the section.
func TestGateFailsWhatCannotSucceed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src, rule string
	}{
		{"does not parse", "-- +goose Up\nALTER TABLE orders ADD COLUMN;\n-- +goose Down\nSELECT 1;\n", "syntax-error"},
		{"concurrently in goose's transaction", "-- +goose Up\nCREATE INDEX CONCURRENTLY i ON orders (id);\n-- +goose Down\nDROP INDEX i;\n", "ban-concurrent-index-creation-in-transaction"},
		{"vacuum in a transaction", "-- +goose Up\nVACUUM orders;\n-- +goose Down\nSELECT 1;\n", "ban-concurrent-index-creation-in-transaction"},
		{"begin inside goose's transaction", "-- +goose Up\nBEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n-- +goose Down\nDROP TABLE a;\n", "transaction-nesting"},
		{"duplicate column", "-- +goose Up\nCREATE TABLE a (id int, id int);\n-- +goose Down\nDROP TABLE a;\n", "ban-duplicate-column-assignments"},
		{"down does not parse", "-- +goose Up\nCREATE TABLE a (id int);\n-- +goose Down\nDROP TABLEE a;\n", "syntax-error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := analyzeSrc(t, tc.src).Gate()
			if !g.Failed() || g.Fails[0].RuleID != tc.rule {
				t.Errorf("gate = %+v, want a failure of %s", g, tc.rule)
			}
		})
	}
	if g := analyzeSrc(t, "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (id);\n-- +goose Down\nDROP INDEX CONCURRENTLY IF EXISTS i;\n").Gate(); g.Failed() {
		t.Errorf("CONCURRENTLY outside a transaction fails the gate: %+v", g)
	}
}

// TestCertainFailuresCannotBeSilenced: neither an ignore comment nor a
// disabled rule hides a certain failure; the comment itself is reported.
func TestCertainFailuresCannotBeSilenced(t *testing.T) {
	t.Parallel()
	rep := analyzeSrc(t, "-- +goose Up\n-- schemacanary:ignore ban-concurrent-index-creation-in-transaction we know\nCREATE INDEX CONCURRENTLY i ON orders (id);\n-- +goose Down\nDROP INDEX i;\n")
	if !rep.Gate().Failed() {
		t.Error("an ignore comment silenced a certain failure")
	}
	var refused bool
	for _, f := range rep.Findings {
		refused = refused || (f.RuleID == "unused-ignore" && strings.Contains(f.Message, "cannot be ignored"))
	}
	if !refused {
		t.Errorf("no finding says the ignore comment is refused: %+v", rep.Findings)
	}
	if _, err := Analyze(context.Background(), migration.Migration{}, WithDisabledRules("syntax-error")); err == nil {
		t.Error("WithDisabledRules accepted a certain failure")
	}
}

// TestGateHoldsDestructiveChanges: DROP DATABASE, DROP SCHEMA CASCADE and
// TRUNCATE of a used table (or of any table without live context) are never
// auto-approved; a TRUNCATE of a table the live context shows empty and idle
// is not held.
func TestGateHoldsDestructiveChanges(t *testing.T) {
	t.Parallel()
	noTx := func(up string) string {
		return "-- +goose NO TRANSACTION\n-- +goose Up\n" + up + "\n-- +goose Down\nSELECT 1;\n"
	}
	tx := func(up string) string { return "-- +goose Up\n" + up + "\n-- +goose Down\nSELECT 1;\n" }
	used := StaticCatalog{"public.orders": {Exists: true, Rows: 1000}, "public.idle": {Exists: true}, "public.hot": {Exists: true, WritesPerSec: 5}}
	for _, tc := range []struct {
		name string
		src  string
		cat  Catalog
		hold string // a fragment of the hold; "" = none
	}{
		{"drop database", noTx("DROP DATABASE app;"), nil, "DROP DATABASE"},
		{"drop schema cascade", tx("DROP SCHEMA reporting CASCADE;"), nil, "DROP SCHEMA reporting CASCADE"},
		{"drop empty schema", tx("DROP SCHEMA reporting;"), nil, ""},
		{"truncate without context", tx("TRUNCATE orders;"), nil, "no live context"},
		{"truncate of a table with rows", tx("TRUNCATE orders;"), used, "rows"},
		{"truncate of a busy empty table", tx("TRUNCATE hot;"), used, "workload uses"},
		{"truncate of an idle empty table", tx("TRUNCATE idle;"), used, ""},
		{"truncate of a table made here", tx("CREATE TABLE scratch (id int);\nTRUNCATE scratch;"), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if tc.cat != nil {
				opts = append(opts, WithCatalog(tc.cat))
			}
			g := analyzeSrc(t, tc.src, opts...).Gate()
			switch {
			case tc.hold == "" && g.Held():
				t.Errorf("held: %+v", g.Holds)
			case tc.hold != "" && (!g.Held() || !strings.Contains(g.Holds[0].Reason, tc.hold)):
				t.Errorf("holds = %+v, want one with %q", g.Holds, tc.hold)
			}
		})
	}
}
