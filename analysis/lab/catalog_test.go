package lab

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// mustFail are templates whose Up fails by design on a table with rows.
var mustFail = map[string]bool{
	"add_not_null_column_no_default": true, "set_not_null_with_nulls": true, "add_check_violated": true,
	"add_check_not_valid_violated_validate": true, "create_unique_index_duplicates": true,
	"create_unique_index_concurrently_duplicates": true, "add_foreign_key_violated": true,
	"create_concurrently_in_transaction": true,
}

// failsWithRows reports whether t's Up must fail on the lab's table.
func failsWithRows(t Template) bool {
	if mustFail[t.ID] || strings.Contains(t.ID, "mistake") {
		return true
	}
	ps := ComposedParts(t)
	return strings.Contains(ps, "add_col_required") || strings.Contains(ps, "set_not_null_nulls")
}

func TestCatalogIsLargeAndVaried(t *testing.T) {
	t.Parallel()
	all := Catalog()
	fams := map[string]int{}
	var tx, notx int
	for _, tp := range all {
		fams[tp.Family]++
		if tp.Kind == KindComposed {
			if tp.NoTransaction {
				notx++
			} else {
				tx++
			}
			if ComposedParts(tp) == "" || strings.Contains(ComposedParts(tp), "?") {
				t.Errorf("%s: parts %q", tp.ID, ComposedParts(tp))
			}
		}
	}
	if len(all) < 120 || len(fams) < 12 {
		t.Errorf("%d templates in %d families, want >= 120 in >= 12", len(all), len(fams))
	}
	if tx < 20 || notx < 10 {
		t.Errorf("composed: %d transactional, %d NO TRANSACTION", tx, notx)
	}
	// Composition is fixed: the same ids mean the same files in every run.
	again := Composed()
	for i, tp := range Composed() {
		if tp.ID != again[i].ID || strings.Join(tp.Up, ";") != strings.Join(again[i].Up, ";") {
			t.Fatalf("Composed() differs between calls at %d", i)
		}
	}
	if err := (&Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// Every template of the catalog renders a goose file that goose parses
// and applies on a real table (or fails exactly when it is meant to), its
// Up and Down parse with the analysis, and reverting it (goose down, then
// the Down statements one by one when Up failed) restores the table's
// shape, so tables can be reused.
func TestTemplatesApplyAndRevert(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	db := labPool(t, dsn)
	if err := createCustomers(ctx, db, Customers); err != nil {
		t.Fatal(err)
	}
	const rows = 3000
	if err := createTable(ctx, db, rows); err != nil {
		t.Fatal(err)
	}
	table := TableName(rows)
	want, err := fingerprint(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	for i, tp := range Catalog() {
		up, down := tp.Render(table)
		rep, err := analysis.Analyze(ctx, analysisMigration(tp.ID, up, down, tp.NoTransaction, 3))
		if err != nil {
			t.Fatalf("%s: analyze: %v", tp.ID, err)
		}
		for _, f := range rep.Findings {
			if f.RuleID == "syntax-error" {
				t.Errorf("%s: %s", tp.ID, f.Message)
			}
		}
		m := Migration{Version: int64(100 + i), Name: gooseName(tp.ID), Source: tp.Goose(table), NoTransaction: tp.NoTransaction}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = GooseApplier{}.Apply(actx, dsn, m)
		cancel()
		switch {
		case failsWithRows(tp) && err == nil:
			t.Errorf("%s: Up succeeded, want it to fail on the lab's data", tp.ID)
		case !failsWithRows(tp) && err != nil:
			t.Errorf("%s: Up: %v", tp.ID, err)
		}
		if err == nil {
			if _, err := (GooseApplier{}).Revert(ctx, dsn, m); err != nil {
				t.Errorf("%s: goose down: %v", tp.ID, err)
			}
		} else {
			if err := dropInvalidIndexes(ctx, db, table); err != nil {
				t.Fatal(err)
			}
			for _, q := range down {
				db.Exec(ctx, q) //nolint:errcheck // Down tolerates an Up that failed part way
			}
		}
		got, err := fingerprint(ctx, db, table)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s: Down did not restore %s:\nwant %s\ngot  %s", tp.ID, table, want, got)
		}
	}
}
