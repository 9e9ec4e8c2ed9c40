package analysis

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// targetSeed is a small database whose rows violate some changes and not
// others.
const targetSeed = `
CREATE TABLE users (id bigint PRIMARY KEY, email text, nickname text, age int, bio text);
INSERT INTO users VALUES (1, 'a@x', 'al', 30, 'short'), (2, 'a@x', NULL, 40, 'a much longer biography than twenty'),
  (3, 'b@x', 'bo', -5, NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, amount numeric(10,2), big bigint);
INSERT INTO orders VALUES (1, 1, 10, 1), (2, 99, 20, 3000000000);
CREATE TABLE empty_t (id int);
ALTER TABLE users ADD CONSTRAINT age_pos CHECK (age > 0) NOT VALID;
ALTER TABLE users ADD CONSTRAINT nick_len CHECK (length(nickname) < 10) NOT VALID;
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
SELECT pg_stat_statements_reset(); -- the seeding is no workload
`

func seededTarget(t *testing.T, opts ...TargetOption) (*Target, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, targetSeed); err != nil {
		t.Fatal(err)
	}
	opts = append([]TargetOption{WithTargetCatalog(WithSampleInterval(0), WithThroughput(Throughput{RewriteBytesPerSec: 50e6, ScanBytesPerSec: 500e6}))}, opts...)
	tg, err := OpenTarget(ctx, dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	return tg, dsn
}

// inspect analyzes up (a goose Up section; noTx for NO TRANSACTION) with the
// target's catalog and inspects it.
func inspect(t *testing.T, tg *Target, up string, noTx bool) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := "-- +goose Up\n" + up + "\n-- +goose Down\nSELECT 1;\n"
	if noTx {
		src = "-- +goose NO TRANSACTION\n" + src
	}
	m := loadTestMigration("00001_change.sql", []byte(src))
	rep, err := Analyze(ctx, m, WithCatalog(tg.Catalog()))
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Inspect(ctx, m, rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func findingsOf(rep *Report, ids ...string) []string {
	var out []string
	for _, f := range rep.Findings {
		for _, id := range ids {
			if f.RuleID == id {
				out = append(out, f.RuleID+": "+f.Message)
			}
		}
	}
	return out
}

// TestDataChecksOnRealData runs every kind of data check against rows that
// violate the change and rows that do not.
func TestDataChecksOnRealData(t *testing.T) {
	t.Parallel()
	tg, _ := seededTarget(t, WithDryRun(false))
	for _, tc := range []struct {
		up    string
		noTx  bool
		fails bool
		// unasked: the target's rows cannot answer the statement's
		// check, so none is asked (not one that cannot run, nor one that
		// fails on rows the file has renamed or emptied).
		unasked bool
	}{
		{up: "CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);", noTx: true, fails: true},
		{up: "CREATE UNIQUE INDEX CONCURRENTLY users_nick_key ON users (nickname);", noTx: true},         // NULLs are distinct
		{up: "CREATE UNIQUE INDEX users_nick_key ON users (nickname) NULLS NOT DISTINCT;", fails: false}, // one NULL only
		{up: "ALTER TABLE users ADD CONSTRAINT users_email_uq UNIQUE (email);", fails: true},
		{up: "ALTER TABLE users ALTER COLUMN nickname SET NOT NULL;", fails: true},
		{up: "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"},
		{up: "ALTER TABLE users ADD COLUMN plan text NOT NULL;", fails: true},
		{up: "ALTER TABLE empty_t ADD COLUMN plan text NOT NULL;"},
		{up: "ALTER TABLE users ADD CONSTRAINT bio_len CHECK (length(bio) < 20);", fails: true},
		{up: "ALTER TABLE users ADD CONSTRAINT id_pos CHECK (id > 0 AND (email IS NOT NULL));"},
		{up: "ALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (user_id) REFERENCES users (id);", fails: true},
		{up: "ALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (user_id) REFERENCES users;", fails: true},
		{up: "ALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (id) REFERENCES users;"},
		{up: "ALTER TABLE users VALIDATE CONSTRAINT age_pos;", fails: true},
		{up: "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;", fails: true},
		{up: "ALTER TABLE users VALIDATE CONSTRAINT nick_len;"},
		// Added NOT VALID and validated in one file: not on the target yet,
		// so the data check reads the definition from the file.
		{up: "ALTER TABLE users ADD CONSTRAINT bio_len CHECK (length(bio) < 20) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT bio_len;", fails: true},
		{up: "ALTER TABLE users ADD CONSTRAINT id_pos2 CHECK (id > 0) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT id_pos2;"},
		{up: "ALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT o_fk;", fails: true},
		{up: "ALTER TABLE users ALTER COLUMN bio TYPE varchar(20);", fails: true},
		{up: "ALTER TABLE users ALTER COLUMN bio TYPE varchar(100);"},
		{up: "ALTER TABLE orders ALTER COLUMN big TYPE int;", fails: true},
		{up: "ALTER TABLE orders ALTER COLUMN amount TYPE numeric(5,2);"},
		{up: "ALTER TABLE orders ALTER COLUMN amount TYPE numeric(3,2);", fails: true},
		{up: "ALTER TABLE users ADD COLUMN note text;", unasked: true},
		{up: "ALTER TABLE users ADD COLUMN score int;\nALTER TABLE users ADD CONSTRAINT score_pos CHECK (score > 0);", unasked: true},
		{up: "ALTER TABLE users RENAME COLUMN bio TO about;\nALTER TABLE users ADD CONSTRAINT about_len CHECK (length(about) < 20);", unasked: true},
		{up: "ALTER TABLE users RENAME TO members;\nCREATE UNIQUE INDEX members_email_key ON members (email);", unasked: true},
		{up: "TRUNCATE orders;\nALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (user_id) REFERENCES users (id);", unasked: true},
		// A referenced table the file creates is empty: every row with a
		// whole key violates, until the file may have written to it.
		{up: "CREATE TABLE accounts (id bigint PRIMARY KEY);\nALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (user_id) REFERENCES accounts (id);", fails: true},
		{up: "CREATE TABLE accounts (id bigint PRIMARY KEY);\nALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (user_id) REFERENCES accounts;", fails: true},
		{up: "CREATE TABLE accounts (id int PRIMARY KEY);\nALTER TABLE empty_t ADD CONSTRAINT e_fk FOREIGN KEY (id) REFERENCES accounts;"},
		{up: "CREATE TABLE accounts (id bigint PRIMARY KEY);\nINSERT INTO accounts SELECT id FROM users;\nALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (user_id) REFERENCES accounts (id);", unasked: true},
		{up: "CREATE TABLE accounts (id bigint PRIMARY KEY);\nDO $$ BEGIN EXECUTE format('INSERT INTO %I SELECT id FROM users', 'accounts'); END $$;\nALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (user_id) REFERENCES accounts (id);", unasked: true},
		{up: "CREATE TABLE accounts (id bigint PRIMARY KEY);\nSELECT fill_accounts();\nALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (user_id) REFERENCES accounts (id);", unasked: true},
	} {
		t.Run(tc.up, func(t *testing.T) {
			rep := inspect(t, tg, tc.up, tc.noTx)
			got := findingsOf(rep, "data-check-failed")
			if (len(got) > 0) != tc.fails {
				t.Errorf("data-check-failed = %q, want fired %v (checks %+v, results %+v)", got, tc.fails, rep.DataChecks, rep.Live.DataChecks)
			}
			if nr := findingsOf(rep, "check-not-run"); len(nr) > 0 {
				t.Errorf("checks did not run: %q", nr)
			}
			if tc.fails && !rep.Gate().Failed() {
				t.Errorf("a violated data check does not fail the gate: %+v", rep.Gate())
			}
			if len(rep.Live.DataChecks) != len(rep.DataChecks) {
				t.Errorf("%d results for %d checks", len(rep.Live.DataChecks), len(rep.DataChecks))
			}
			if tc.unasked != (len(rep.DataChecks) == 0) {
				t.Errorf("data checks %+v, want asked %v", rep.DataChecks, !tc.unasked)
			}
		})
	}
}

// TestDryRunOnSchemaCopy runs the Up section on a schema-only copy: what
// PostgreSQL rejects there is a certain failure, and the target is never
// changed, even by a destructive Up.
func TestDryRunOnSchemaCopy(t *testing.T) {
	t.Parallel()
	tg, dsn := seededTarget(t, WithDataChecks(false))
	for _, tc := range []struct {
		up    string
		noTx  bool
		fails string // a fragment of the PostgreSQL error; "" = passes
	}{
		{up: "ALTER TABLE users ADD COLUMN email text;", fails: "already exists"},
		{up: "ALTER TABLE nosuch ADD COLUMN x int;", fails: "does not exist"},
		{up: "ALTER TABLE users ALTER COLUMN email TYPE int;", fails: "cannot be cast automatically"},
		{up: "CREATE TABLE users (id int);", fails: "already exists"},
		{up: "CREATE INDEX CONCURRENTLY users_age_idx ON users (agee);", noTx: true, fails: "does not exist"},
		{up: "ALTER TABLE users ADD COLUMN note text;\nCREATE INDEX users_note_idx ON users (note);"},
		{up: "DROP TABLE users CASCADE;"},
		{up: "CREATE INDEX CONCURRENTLY users_age_idx ON users (age);", noTx: true},
	} {
		t.Run(tc.up, func(t *testing.T) {
			rep := inspect(t, tg, tc.up, tc.noTx)
			got := findingsOf(rep, "dry-run-failed")
			switch {
			case tc.fails == "" && (len(got) > 0 || rep.Live.DryRun != CheckPassed):
				t.Errorf("dry run %s: %q %q (gate %+v)", rep.Live.DryRun, got, findingsOf(rep, "check-not-run"), rep.Gate().Fails)
			case tc.fails != "" && (len(got) != 1 || !strings.Contains(got[0], tc.fails) || rep.Live.DryRun != CheckFailed):
				t.Errorf("dry run %s: %q, want one failure with %q", rep.Live.DryRun, got, tc.fails)
			}
		})
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM users"); n != 3 {
		t.Errorf("the dry run of DROP TABLE users changed the target: %d users", n)
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_database WHERE datname LIKE 'schemacanary_dryrun_%'"); n != 0 {
		t.Errorf("%d scratch databases left behind", n)
	}
}

// TestChecksThatCannotRunSaySo: no CREATEDB for the dry run, no SELECT for
// a data check, a table locked by DDL: each is reported and lowers nothing
// silently.
func TestChecksThatCannotRunSaySo(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, dsn := seededTarget(t)
	role := fmt.Sprintf("limited_%d", time.Now().UnixNano()%1e9)
	pgtest.Exec(t, dsn, fmt.Sprintf("CREATE ROLE %s LOGIN; GRANT SELECT ON orders, empty_t TO %s", role, role))
	t.Cleanup(func() { pgtest.Exec(t, dsn, fmt.Sprintf("DROP OWNED BY %s; DROP ROLE %s", role, role)) })
	limited := strings.Replace(dsn, "postgres://postgres@", "postgres://"+role+"@", 1)
	tg, err := OpenTarget(ctx, limited, WithTargetCatalog(WithSampleInterval(0), WithThroughput(Throughput{RewriteBytesPerSec: 50e6})))
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()

	rep := inspect(t, tg, "ALTER TABLE users ALTER COLUMN nickname SET NOT NULL;", false)
	nr := findingsOf(rep, "check-not-run")
	if len(nr) != 2 || !strings.Contains(strings.Join(nr, "\n"), "dry run not run") || !strings.Contains(strings.Join(nr, "\n"), "permission denied") {
		t.Errorf("check-not-run = %q, want the dry run (no CREATEDB) and the data check (no SELECT)", nr)
	}
	if g := rep.Gate(); len(g.Unverified) != 2 || g.Failed() {
		t.Errorf("gate = %+v, want 2 unverified, no failure", g)
	}

	// A table held by DDL elsewhere: the check's lock_timeout ends it.
	su, err := OpenTarget(ctx, dsn, WithDryRun(false), WithTargetCatalog(WithSampleInterval(0), WithThroughput(Throughput{RewriteBytesPerSec: 50e6})))
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close()
	m := loadTestMigration("00001_change.sql", []byte("-- +goose Up\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\n-- +goose Down\nSELECT 1;\n"))
	rep, err = Analyze(ctx, m) // no catalog: its stats query would wait for the lock too
	if err != nil {
		t.Fatal(err)
	}
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	err = su.Inspect(ctx, m, rep)
	_ = tx.Rollback(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if nr := findingsOf(rep, "check-not-run"); len(nr) != 1 || !strings.Contains(nr[0], "lock timeout") {
		t.Errorf("check-not-run = %q, want one lock timeout", nr)
	}
}

// TestDryRunSkipsClusterWideStatements: a scratch database on the same
// server cannot contain CREATE DATABASE or ALTER SYSTEM, so the dry run
// does not run them, and says so.
func TestDryRunSkipsClusterWideStatements(t *testing.T) {
	t.Parallel()
	tg, dsn := seededTarget(t)
	name := fmt.Sprintf("dry_%d", time.Now().UnixNano()%1e9)
	rep := inspect(t, tg, "CREATE DATABASE "+name+";", true)
	if nr := findingsOf(rep, "check-not-run"); len(nr) != 1 || !strings.Contains(nr[0], "whole server") {
		t.Errorf("check-not-run = %q", nr)
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_database WHERE datname = '"+name+"'"); n != 0 {
		t.Errorf("the dry run created database %s", name)
	}
}
