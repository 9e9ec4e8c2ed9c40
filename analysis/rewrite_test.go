package analysis

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// TestTypeChangeRewriteMatchesPostgres runs every kind of ALTER COLUMN ...
// TYPE the rules know on a real PostgreSQL and checks the analysis's
// verdict, read from the catalog's old type, against the table's
// relfilenode: it changes exactly when the analysis says "rewrites". The
// same statements without a catalog say "may rewrite", never "no rewrite".
func TestTypeChangeRewriteMatchesPostgres(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dsn := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "SET TimeZone = 'Europe/Paris'"); err != nil {
		t.Fatal(err)
	}
	cat, err := NewPGCatalog(ctx, dsn, WithSampleInterval(0), WithCalibrationRows(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	cases := []struct{ from, to, using string }{
		{"text", "varchar(200)", ""}, // the case: PostgreSQL rewrites
		{"text", "varchar", ""},
		{"varchar(50)", "text", ""},
		{"varchar(50)", "varchar(100)", ""},
		{"varchar(50)", "varchar", ""},
		{"varchar(100)", "varchar(50)", ""},
		{"varchar", "varchar(50)", ""},
		{"char(10)", "char(20)", ""},
		{"char(10)", "text", ""},
		{"cidr", "inet", ""},
		{"int4", "int8", ""},
		{"int8", "int4", ""},
		{"int4", "numeric(12,2)", ""},
		{"int4", "text", ""},
		{"numeric(10,2)", "numeric(12,2)", ""},
		{"numeric(10,2)", "numeric(12,3)", ""},
		{"numeric(10,2)", "numeric", ""},
		{"numeric", "numeric(10,2)", ""},
		{"numeric(12,2)", "numeric(10,2)", ""},
		{"timestamp(3)", "timestamp(6)", ""},
		{"timestamp(6)", "timestamp(3)", ""},
		{"timestamptz(3)", "timestamptz", ""},
		{"varbit(8)", "varbit(16)", ""},
		{"float4", "float8", ""},
		{"text", "varchar", "c::varchar"},
		{"text", "text", "lower(c)"},
		{"int4", "int8", "c + 1"},
	}
	for i, tc := range cases {
		table := fmt.Sprintf("t%d", i)
		if _, err := pool.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int, c %s)", table, tc.from)); err != nil {
			t.Fatalf("%s: %v", tc.from, err)
		}
		stmt := fmt.Sprintf("ALTER TABLE %s ALTER COLUMN c TYPE %s", table, tc.to)
		if tc.using != "" {
			stmt += " USING " + tc.using
		}
		m := migration.Migration{Path: "0001_retype.sql", Version: 1, Sections: migration.Sections{HasDown: true, Up: []migration.Statement{{SQL: stmt + ";", Line: 1}}}}
		rep, err := Analyze(ctx, m, WithCatalog(cat))
		if err != nil {
			t.Fatal(err)
		}
		offline, err := Analyze(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		var before, after uint32
		if err := pool.QueryRow(ctx, "SELECT relfilenode FROM pg_class WHERE relname = $1", table).Scan(&before); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		if err := pool.QueryRow(ctx, "SELECT relfilenode FROM pg_class WHERE relname = $1", table).Scan(&after); err != nil {
			t.Fatal(err)
		}
		rewrote := before != after
		msg := findingMessage(rep, "changing-column-type")
		switch {
		case rep.Statements[0].Rewrite != rewrote:
			t.Errorf("%s → %s (USING %q): analysis says rewrite=%v (%q), PostgreSQL rewrote=%v", tc.from, tc.to, tc.using, rep.Statements[0].Rewrite, msg, rewrote)
		case rewrote && !strings.Contains(msg, " rewrites the table"):
			t.Errorf("%s → %s: message %q", tc.from, tc.to, msg)
		case !rewrote && !strings.Contains(msg, "no rewrite"):
			t.Errorf("%s → %s: message %q", tc.from, tc.to, msg)
		}
		if om := findingMessage(offline, "changing-column-type"); !offline.Statements[0].Rewrite || strings.Contains(om, "no rewrite") {
			t.Errorf("%s → %s without a catalog: %q, want rewrite or may rewrite", tc.from, tc.to, om)
		}
	}
	// timestamp → timestamptz: PostgreSQL skips the rewrite only in a UTC
	// session, which the analysis cannot know.
	if _, err := pool.Exec(ctx, "CREATE TABLE tz (c timestamp)"); err != nil {
		t.Fatal(err)
	}
	m := migration.Migration{Path: "0002_tz.sql", Version: 2, Sections: migration.Sections{HasDown: true, Up: []migration.Statement{{SQL: "ALTER TABLE tz ALTER COLUMN c TYPE timestamptz;", Line: 1}}}}
	rep, err := Analyze(ctx, m, WithCatalog(cat))
	if err != nil {
		t.Fatal(err)
	}
	if msg := findingMessage(rep, "changing-column-type"); !rep.Statements[0].Rewrite || !strings.Contains(msg, "may rewrite") {
		t.Errorf("timestamp → timestamptz: %q, want may rewrite", msg)
	}
}

func findingMessage(r *Report, rule string) string {
	for _, f := range r.Findings {
		if f.RuleID == rule {
			return f.Message
		}
	}
	return ""
}
