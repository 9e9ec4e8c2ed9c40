package analysis

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// libpqDSN drops pgx's own parameters and moves server settings into
// options, in both forms of a connection string, keeping everything libpq
// reads as it was.
func TestLibpqDSN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:p@h:5432/db?sslmode=disable", "postgres://u:p@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db?pool_max_conns=4&sslmode=require&statement_cache_capacity=0", "postgres://u@h/db?sslmode=require"},
		{"postgresql://u@h/db?search_path=app&options=-c%20work_mem%3D8MB", "postgresql://u@h/db?options=-c%20work_mem%3D8MB%20-c%20search_path%3Dapp"},
		{"host=h port=5432 dbname=db pool_max_conns=4", "host='h' port='5432' dbname='db'"},
		{"host = h dbname='my db' search_path='a b' application_name=x\\ y", `host='h' dbname='my db' application_name='x y' options='-c search_path=a\\ b'`},
		{"dbname=it\\'s options='-c geqo=off'", `dbname='it\'s' options='-c geqo=off'`},
	} {
		got, err := libpqDSN(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("libpqDSN(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"host", "host=h dbname='open"} {
		if _, err := libpqDSN(bad); err == nil {
			t.Errorf("libpqDSN(%q): no error", bad)
		}
	}
}

// A DSN written for pgx (pool settings, a search_path as a parameter), in
// either form, still gets its dry run and its verify: pg_dump and psql
// are given what libpq accepts. Not parallel: TestDryRunOnSchemaCopy counts the
// server's scratch databases.
func TestDryRunWithPgxDSN(t *testing.T) {
	_, dsn := seededTarget(t, WithDataChecks(false))
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	keyword := fmt.Sprintf("host=%s port=%d user=%s dbname='%s' sslmode=disable pool_max_conns=3 search_path='public'",
		cfg.Host, cfg.Port, cfg.User, cfg.Database)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for _, d := range []string{dsn + sep + "pool_max_conns=3&statement_cache_capacity=64&search_path=public", keyword} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		tg, err := OpenTarget(ctx, d, WithDataChecks(false), WithTargetCatalog(WithSampleInterval(0), WithThroughput(Throughput{RewriteBytesPerSec: 50e6})))
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		rep := inspect(t, tg, "ALTER TABLE users ADD COLUMN email text;", false)
		tg.Close()
		if rep.Live.DryRun != CheckFailed || len(findingsOf(rep, "dry-run-failed")) != 1 {
			t.Errorf("%s: dry run %s: %q", d, rep.Live.DryRun, findingsOf(rep, "check-not-run"))
		}
		// Verify copies the schema through the same DSN.
		m := loadTestMigration("00001_note.sql", []byte("-- +goose Up\nALTER TABLE users ADD COLUMN note text;\n-- +goose Down\nALTER TABLE users DROP COLUMN note;\n"))
		ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
		res, err := Verify(ctx, d, m, WithPgBinDir(pgtest.Shared(t).BinDir()))
		cancel()
		if err != nil || len(res.Findings) != 0 {
			t.Errorf("%s: verify: %v %+v", d, err, res)
		}
	}
}
