package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// recipe marks a template database built by this version of the lab
// (COMMENT ON DATABASE); one with another comment is rebuilt.
const recipe = "schemacanary lab template v3"

// TemplateDatabase is the name of the template database of a table size.
func TemplateDatabase(rows int64) string { return "labtpl_" + TableName(rows) }

func laneDatabase(lane int, rows int64) string {
	return fmt.Sprintf("lab_%d_%s", lane, TableName(rows))
}

func corpusDatabase(lane int) string { return fmt.Sprintf("lab_%d_corpus", lane) }

// server creates and drops the lab's databases on the server at admin.
// CREATE and DROP DATABASE are serialized.
type server struct {
	admin string
	cc    *pgx.ConnConfig
	log   *slog.Logger
	mu    sync.Mutex
}

func newServer(adminDSN string, log *slog.Logger) (*server, error) {
	cc, err := pgx.ParseConfig(adminDSN)
	if err != nil {
		return nil, fmt.Errorf("lab: parse dsn: %w", err)
	}
	return &server{admin: adminDSN, cc: cc, log: log}, nil
}

// dsn is a libpq URL for database db on the same server with extra
// runtime parameters.
func (s *server) dsn(db string, params map[string]string) string {
	u := url.URL{Scheme: "postgres", Host: fmt.Sprintf("%s:%d", s.cc.Host, s.cc.Port), Path: "/" + db}
	if s.cc.Password != "" {
		u.User = url.UserPassword(s.cc.User, s.cc.Password)
	} else {
		u.User = url.User(s.cc.User)
	}
	q := url.Values{"sslmode": {"disable"}}
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// untrackedParams keep the lab's own statements (table builds, migrations,
// reverts, probes) out of pg_stat_statements, so the workload features see
// only the application load. The setting goes in libpq's options, so
// pg_dump (the dry run's schema-only copy) accepts the DSN too ("-c"
// without a space: pgx does not decode "+" in a URI).
var untrackedParams = map[string]string{"options": "-cpg_stat_statements.track=none"}

func (s *server) exec(ctx context.Context, sqls ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return fmt.Errorf("lab: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, q := range sqls {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("lab: %s: %w", q, err)
		}
	}
	return nil
}

func (s *server) drop(ctx context.Context, name string) error {
	return s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

// create makes an empty database (from template0, with pg_stat_statements).
func (s *server) create(ctx context.Context, name string) error {
	if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)",
		"CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		return err
	}
	return s.withDB(ctx, name, func(db *pgxpool.Pool) error {
		if _, err := db.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
			s.log.Debug("no pg_stat_statements: workload context will be empty", "err", err)
		}
		// The plan check (analysis.Target) compares plans with hypopg, as
		// the product does on a fleet that has it.
		if _, err := db.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS hypopg"); err != nil {
			s.log.Debug("no hypopg: plans will not be compared", "err", err)
		}
		return nil
	})
}

// clone copies the template database tpl to name (CREATE DATABASE ...
// TEMPLATE: a file copy, far faster than building the tables again).
func (s *server) clone(ctx context.Context, name, tpl string) error {
	q := pgx.Identifier{name}.Sanitize()
	t0 := time.Now()
	err := s.exec(ctx, "DROP DATABASE IF EXISTS "+q+" WITH (FORCE)", "CREATE DATABASE "+q+" TEMPLATE "+pgx.Identifier{tpl}.Sanitize()+" STRATEGY FILE_COPY")
	if err != nil {
		// Before PostgreSQL 15 there is no STRATEGY; FILE_COPY is the only way.
		if err2 := s.exec(ctx, "CREATE DATABASE "+q+" TEMPLATE "+pgx.Identifier{tpl}.Sanitize()); err2 != nil {
			return fmt.Errorf("lab: clone %s: %w", name, errors.Join(err, err2))
		}
	}
	s.log.Debug("database cloned", "db", name, "template", tpl, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// withDB runs fn on a short-lived pool on database name (untracked).
func (s *server) withDB(ctx context.Context, name string, fn func(*pgxpool.Pool) error) error {
	db, err := openPool(ctx, s.dsn(name, untrackedParams), 2)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

func openPool(ctx context.Context, dsn string, conns int32) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("lab: parse dsn: %w", err)
	}
	pc.MaxConns = conns
	pc.MaxConnIdleTime = 20 * time.Second
	db, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("lab: connect %s: %w", pc.ConnConfig.Database, err)
	}
	return db, nil
}

// templateComment is the comment of a complete template database.
func templateComment(rows int64) string { return fmt.Sprintf("%s, %d rows", recipe, rows) }

// prepareTemplate makes sure the template database of a size exists and
// is complete: one left by an earlier run of the same recipe is reused,
// anything else is dropped and built again (customers, the orders table,
// pg_stat_statements). It reports whether it built.
func (s *server) prepareTemplate(ctx context.Context, rows int64) (bool, error) {
	name := TemplateDatabase(rows)
	var comment string
	err := s.withDB(ctx, "postgres", func(db *pgxpool.Pool) error {
		return db.QueryRow(ctx, `SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = $1`, name).Scan(&comment)
	})
	if err == nil && comment == templateComment(rows) {
		return false, nil
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, err
	}
	if err := s.create(ctx, name); err != nil {
		return false, err
	}
	err = s.withDB(ctx, name, func(db *pgxpool.Pool) error {
		if err := createCustomers(ctx, db, CustomersFor(rows)); err != nil {
			return err
		}
		return createTable(ctx, db, rows)
	})
	if err != nil {
		return false, err
	}
	q := pgx.Identifier{name}.Sanitize()
	if err := s.exec(ctx, "COMMENT ON DATABASE "+q+" IS '"+templateComment(rows)+"'"); err != nil {
		return false, err
	}
	return true, nil
}

// tableDB is one lane's clone of a size's template database.
type tableDB struct {
	name     string
	rows     int64
	dsn      string // the application's (tracked by pg_stat_statements)
	applyDSN string // the lab's and the applier's (untracked)
	db       *pgxpool.Pool
	shape    string
}

func (t *tableDB) table() string { return TableName(t.rows) }

func (t *tableDB) close() {
	if t.db != nil {
		t.db.Close()
		t.db = nil
	}
}

// openTableDB clones the template of rows for lane and connects to it.
func (s *server) openTableDB(ctx context.Context, lane int, rows int64) (*tableDB, error) {
	name := laneDatabase(lane, rows)
	if err := s.clone(ctx, name, TemplateDatabase(rows)); err != nil {
		return nil, err
	}
	t := &tableDB{name: name, rows: rows, dsn: s.dsn(name, nil), applyDSN: s.dsn(name, untrackedParams)}
	db, err := openPool(ctx, t.applyDSN, 4)
	if err != nil {
		return nil, err
	}
	t.db = db
	if t.shape, err = fingerprint(ctx, db, t.table()); err != nil {
		db.Close()
		return nil, err
	}
	return t, nil
}
