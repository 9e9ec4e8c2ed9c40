package analysis_test

import (
	"context"
	"fmt"
	"os"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// A migration that adds a column with a volatile default: the table is
// rewritten under ACCESS EXCLUSIVE, and the Down section drops the column
// (data written after Up would be lost without the rollout's archive).
func ExampleAnalyze() {
	m := migration.Migration{
		Path: "migrations/0042_add_token.sql", Version: 42, Sections: migration.Sections{HasDown: true, Up: []migration.Statement{{SQL: "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();", Line: 6}}, Down: []migration.Statement{{SQL: "ALTER TABLE orders DROP COLUMN token;", Line: 8}}},
	}
	r, err := analysis.Analyze(context.Background(), m)
	if err != nil {
		panic(err)
	}
	fmt.Println("tables:", r.Tables, "lock:", r.StrongestLock)
	fmt.Println("rewrite:", r.Statements[0].Rewrite, "lossy down:", r.LossyDown, r.DownDrops)
	for _, f := range r.Findings {
		if f.Severity == analysis.SeverityError {
			fmt.Printf("%s:%d: %s: %s\n", f.File, f.Line, f.RuleID, f.Message)
		}
	}
	// Output:
	// tables: [public.orders] lock: AccessExclusiveLock
	// rewrite: true lossy down: true [{public orders token}]
	// migrations/0042_add_token.sql:6: adding-field-with-default: adding token with a volatile DEFAULT rewrites public.orders under an ACCESS EXCLUSIVE lock
}

// With a Catalog, findings carry the size and traffic of the table and an
// estimate of how long the lock is held. StaticCatalog stands in for the
// live PGCatalog here.
func ExampleWithCatalog() {
	cat := analysis.StaticCatalog{"public.orders": {
		Exists: true, Rows: 12e6, Bytes: 12 << 30, Indexes: 3, WritesPerSec: 400, ScansPerSec: 900,
		RewriteBytesPerSec: 70 << 20, ScanBytesPerSec: 400 << 20,
		Columns: map[string]analysis.ColumnType{"amount": {Name: "int4"}},
	}}
	m := migration.Migration{Path: "0043_retype.sql", Sections: migration.Sections{HasDown: true, Up: []migration.Statement{{SQL: "ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2);", Line: 2}}, Down: []migration.Statement{{SQL: "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;", Line: 4}}}}
	r, err := analysis.Analyze(context.Background(), m, analysis.WithCatalog(cat))
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Findings[0].Message)
	fmt.Printf("est. lock %.0f s\n", r.EstLockSeconds)
	// Output:
	// changing the type of public.orders.amount from int4 to numeric(12,2) rewrites the table and its indexes under an ACCESS EXCLUSIVE lock and can break deployed code (public.orders: 12.0 GB, 12.0M rows, est. 3 min under ACCESS EXCLUSIVE, 400 writes/s blocked, 900 scans/s blocked)
	// est. lock 176 s
}

// The feature vector the prediction model consumes.
func ExampleReport_Features() {
	m := migration.Migration{Path: "0044_idx.sql", Sections: migration.Sections{HasDown: true, Up: []migration.Statement{{SQL: "CREATE INDEX orders_created_idx ON orders (created_at);", Line: 2}}, Down: []migration.Statement{{SQL: "DROP INDEX orders_created_idx;", Line: 4}}}}
	cat := analysis.StaticCatalog{"public.orders": {Exists: true, Rows: 2e6, Bytes: 300 << 20, WritesPerSec: 150,
		RewriteBytesPerSec: 60 << 20, ScanBytesPerSec: 300 << 20}}
	r, _ := analysis.Analyze(context.Background(), m, analysis.WithCatalog(cat))
	x := r.Exposure()
	fmt.Printf("writes blocked for %.1f s, %.0f writes queue\n", x.HoldSeconds, x.QueuedWrites)
	// Output: writes blocked for 5.0 s, 750 writes queue
}

// Lint output in the compiler-style text format.
func ExampleWriteReports() {
	m := migration.Migration{Path: "0045_drop.sql", Sections: migration.Sections{HasDown: true, Up: []migration.Statement{{SQL: "ALTER TABLE orders DROP COLUMN note;", Line: 3}}, Down: []migration.Statement{{SQL: "ALTER TABLE orders ADD COLUMN note text;", Line: 5}}}}
	r, _ := analysis.Analyze(context.Background(), m, analysis.WithDisabledRules("require-lock-timeout", "require-statement-timeout"))
	_ = analysis.WriteReports(os.Stdout, analysis.FormatText, []*analysis.Report{r})
	// Output: 0045_drop.sql:3:1: ban-drop-column: dropping public.orders.note destroys its data and breaks deployed code that still reads or writes it
}
