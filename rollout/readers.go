package rollout

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3/database"
)

// Read-only look-ups every target needs, on a schema-per-tenant fleet for
// thousands of targets and some on every reconcile pass (its goose
// version; its pre-flight's catalog reads), share one small pool per
// database among that database's tenants: a new PostgreSQL session costs
// about 27 ms of server CPU (a process and its catalog caches, measured on
// a database of 700 tenant schemas) where the look-up takes under one. A
// look-up sets its session's search_path to its tenant's schema first. A
// database-per-tenant target gets a session of its own, as before (a pool
// per database would keep thousands of idle sessions). Applies and
// rollbacks always run on a session of their own.

// readerConns bounds the sessions of one database's pool.
const readerConns = 4

// readers holds the pools, keyed by DSN. Safe for concurrent use.
type readers struct {
	params map[string]string

	mu    sync.Mutex
	pools map[string]*sql.DB
}

func newReaders(params map[string]string) *readers {
	return &readers{params: params, pools: map[string]*sql.DB{}}
}

// read runs fn on a session of inst's database with inst's search_path.
// An error before fn runs is a connection failure (the target is
// unreachable).
func (r *readers) read(ctx context.Context, inst Instance, fn func(database.DBTxConn) error) error {
	if inst.Schema == "" {
		db, err := openDB(ctx, inst, r.params)
		if err != nil {
			return err
		}
		defer db.Close()
		return fn(db)
	}
	db, err := r.pool(inst)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("instance %s: connect: %w", inst.Name, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT set_config('search_path', $1, false)`, ident(inst.Schema)); err != nil {
		return fmt.Errorf("instance %s: connect: %w", inst.Name, err)
	}
	return fn(conn)
}

// pool returns the pool of inst's database, opening it on first use (it
// connects lazily).
func (r *readers) pool(inst Instance) (*sql.DB, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if db, ok := r.pools[inst.DSN]; ok {
		return db, nil
	}
	cfg, err := connConfig(inst, r.params)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(readerConns)
	db.SetMaxIdleConns(readerConns)
	db.SetConnMaxIdleTime(time.Minute)
	r.pools[inst.DSN] = db
	return db, nil
}

// close closes every pool.
func (r *readers) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, db := range r.pools {
		db.Close()
		delete(r.pools, k)
	}
}
