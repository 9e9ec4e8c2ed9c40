package migration_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// execRecorder sees every statement goose's Provider sends through
// database/sql, so tests compare what goose runs with what ParseSections
// returns. In dry mode it records migration statements without sending them
// (goose's own version-table statements always go to Postgres), for corpora
// that cannot be applied in order.
type execRecorder struct {
	mu    sync.Mutex
	stmts []string
	dry   bool
}

func (r *execRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.stmts
	r.stmts = nil
	return out
}

type recordingConnector struct {
	driver.Connector
	rec *execRecorder
}

func (c recordingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: conn.(*stdlib.Conn), rec: c.rec}, nil
}

type recordingConn struct {
	*stdlib.Conn
	rec *execRecorder
}

func (c *recordingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if strings.Contains(query, "goose_db_version") {
		return c.Conn.ExecContext(ctx, query, args)
	}
	c.rec.mu.Lock()
	c.rec.stmts = append(c.rec.stmts, query)
	dry := c.rec.dry
	c.rec.mu.Unlock()
	if dry {
		return driver.RowsAffected(0), nil
	}
	return c.Conn.ExecContext(ctx, query, args)
}

// gooseProvider opens a goose Provider over pgx's database/sql driver on a
// fresh pgtest database, recording statements.
func gooseProvider(t *testing.T, fsys fstest.MapFS, dry bool) (*goose.Provider, *execRecorder, *sql.DB) {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := &execRecorder{dry: dry}
	db := sql.OpenDB(recordingConnector{Connector: stdlib.GetConnector(*cfg), rec: rec})
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	return p, rec, db
}

// loadDir reads the *.sql files of dir, minus skip, into a MapFS and parses
// each with ParseLenient (sorted by version).
func loadDir(t *testing.T, dir string, skip func(name string) bool) (fstest.MapFS, []*migration.Migration) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	var ms []*migration.Migration
	for _, f := range files {
		name := filepath.Base(f)
		if skip != nil && skip(name) {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := migration.ParseLenient(name, src)
		if err != nil {
			t.Fatalf("ParseLenient: %v", err)
		}
		fsys[name] = &fstest.MapFile{Data: src}
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return fsys, ms
}

func statementsOf(ms []*migration.Migration, down bool) []string {
	var out []string
	if down {
		ms = slices.Clone(ms)
		slices.Reverse(ms)
	}
	for _, m := range ms {
		sts := m.Up
		if down {
			sts = m.Down
		}
		for _, s := range sts {
			out = append(out, s.SQL)
		}
	}
	return out
}

func assertSameStatements(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("%s: goose ran %d statements, ParseSections split %d", what, len(got), len(want))
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("first difference at statement %d:\ngoose: %q\nours:  %q", i, g, w)
			return
		}
	}
}

// checkEquivalence runs Up then DownTo(0) with goose's Provider and asserts
// that goose executed exactly our statements, in order.
func checkEquivalence(t *testing.T, fsys fstest.MapFS, ms []*migration.Migration, dry bool) {
	t.Helper()
	ctx := context.Background()
	p, rec, db := gooseProvider(t, fsys, dry)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("goose up: %v", err)
	}
	assertSameStatements(t, "up", rec.take(), statementsOf(ms, false))
	if !dry {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM goose_db_version WHERE version_id > 0").Scan(&n); err != nil || n != len(ms) {
			t.Fatalf("goose_db_version has %d rows (%v), want %d", n, err, len(ms))
		}
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("goose down: %v", err)
	}
	assertSameStatements(t, "down", rec.take(), statementsOf(ms, true))
}

// TestGooseEquivalence applies our testdata files and the scroll corpus with
// goose's Provider on real Postgres, and runs the other corpora through it
// without executing their statements, proving goose runs exactly the
// statements ParseSections splits.
func TestGooseEquivalence(t *testing.T) {
	t.Parallel()
	t.Run("testdata", func(t *testing.T) {
		t.Parallel()
		// Skip files whose golden output is an error, and ENVSUB (goose
		// substitutes; we return the raw text).
		fsys, ms := loadDir(t, filepath.Join("testdata", "parse"), func(name string) bool {
			g, _ := os.ReadFile(filepath.Join("testdata", "parse", strings.TrimSuffix(name, ".sql")+".golden"))
			return strings.HasPrefix(string(g), "error:") || strings.Contains(name, "envsub")
		})
		if len(ms) < 5 {
			t.Fatalf("only %d files", len(ms))
		}
		checkEquivalence(t, fsys, ms, false)
	})
	corpus := corpusDir(t)
	if corpus == "" {
		return
	}
	for _, c := range []struct {
		name string
		dry  bool
	}{
		{"scroll-tech__scroll", false},
		{"ethpandaops__dora", true},
		{"smartcontractkit__chainlink", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fsys, ms := loadDir(t, filepath.Join(corpus, c.name), func(name string) bool {
				return name == chainlinkBroken
			})
			checkEquivalence(t, fsys, ms, c.dry)
		})
	}
}

// TestGooseRejectsWhatWeReject feeds files ParseSections refuses to goose's
// Provider and asserts goose refuses them too, before running anything.
func TestGooseRejectsWhatWeReject(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"no up":                         "SELECT 1;\n",
		"sql before up":                 "SELECT 1;\n-- +goose Up\nSELECT 2;\n",
		"duplicate up":                  "-- +goose Up\nSELECT 1;\n-- +goose Up\n",
		"down before up":                "-- +goose Down\nSELECT 1;\n",
		"two downs":                     "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n-- +goose Down\n",
		"missing semicolon before down": "-- +goose Up\nSELECT 1\n-- +goose Down\nSELECT 1;\n",
		"missing semicolon at end":      "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1\n",
		"semicolon only in comment":     "-- +goose Up\nSELECT 1 -- ;\n",
		"begin without end":             "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose Down\n",
		"begin without end at EOF":      "-- +goose Up\nSELECT 1;\n-- +goose Down\n-- +goose StatementBegin\nSELECT 1;\n",
		"end without begin":             "-- +goose Up\nSELECT 1;\n-- +goose StatementEnd\n",
		"nested begin":                  "-- +goose Up\n-- +goose StatementBegin\n-- +goose StatementBegin\nSELECT 1;\n-- +goose StatementEnd\n",
		"unknown annotation":            "-- +goose Up\n-- +goose Sideways\n",
		"indented annotation":           "  -- +goose Up\nSELECT 1;\n",
		"two annotations on a line":     "-- +goose Up -- +goose Down\n",
		"empty annotation":              "-- +goose\n-- +goose Up\n",
	}
	if corpus := corpusDir(t); corpus != "" {
		src, err := os.ReadFile(filepath.Join(corpus, "smartcontractkit__chainlink", chainlinkBroken))
		if err != nil {
			t.Fatal(err)
		}
		bad["chainlink "+chainlinkBroken] = string(src)
	}
	for name, src := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := migration.ParseSections("0001_x.sql", []byte(src))
			if !errors.Is(err, migration.ErrGooseSyntax) {
				t.Fatalf("ParseSections: %v, want ErrGooseSyntax", err)
			}
		})
	}
	// One database serves every case: goose fails while preparing the
	// file, before it runs any statement, which the recorder checks.
	cfg, err := pgx.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := &execRecorder{}
	db := sql.OpenDB(recordingConnector{Connector: stdlib.GetConnector(*cfg), rec: rec})
	defer db.Close()
	for name, src := range bad {
		t.Run("goose/"+name, func(t *testing.T) {
			p, err := goose.NewProvider(goose.DialectPostgres, db, fstest.MapFS{"0001_x.sql": {Data: []byte(src)}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Up(context.Background()); err == nil {
				t.Fatalf("goose accepted a file ParseSections rejects")
			} else if !strings.Contains(err.Error(), "failed to prepare migration") {
				t.Fatalf("goose failed for another reason: %v", err)
			}
		})
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("statements ran: %q", got)
	}
}

// chainlinkBroken is the corpus file goose cannot parse (its Down lacks a
// final semicolon).
const chainlinkBroken = "0035_create_feeds_managers.sql"

// corpusDir returns ../../../shared/corpus/goose, or "" (skipping the rest of
// the test) when absent outside CI.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "corpus", "goose")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus missing: %v", err)
		}
		t.Logf("corpus %s missing; skipping corpus checks", dir)
		return ""
	}
	return dir
}
