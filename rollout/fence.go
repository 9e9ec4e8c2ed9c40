package rollout

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// fenceTables locks the existing ones of tables IN SHARE ROW EXCLUSIVE
// MODE inside tx: reads go on, writes wait until the rollback commits (at
// most until the down is done), so no row written during the canary slips
// past the archive copy. It returns the tables locked.
func fenceTables(ctx context.Context, tx *sql.Tx, tables []string) ([]string, error) {
	var locked []string
	for _, t := range tables {
		var name sql.NullString
		// Schema-qualified whatever the search_path (a tenant's is its schema).
		if err := tx.QueryRowContext(ctx, `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`, t).Scan(&name); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("fence %s: %w", t, err)
		}
		if name.Valid && !slices.Contains(locked, name.String) {
			locked = append(locked, name.String)
		}
	}
	if len(locked) == 0 {
		return nil, nil
	}
	// format's %I quotes as needed.
	if _, err := tx.ExecContext(ctx, "LOCK TABLE "+strings.Join(locked, ", ")+" IN SHARE ROW EXCLUSIVE MODE"); err != nil {
		return nil, fmt.Errorf("fence %s: %w", strings.Join(locked, ", "), err)
	}
	return locked, nil
}

// fenceDatabase makes the database read-only for new sessions, waits up to
// drain for running write transactions of the app roles, then terminates
// their sessions so reconnecting clients get read-only sessions. unfence
// lifts the fence and terminates the app roles' sessions again (those
// opened during the fence are read-only by default).
func (r *Rollbacker) fenceDatabase(ctx context.Context, db *sql.DB) (unfence func(context.Context) error, err error) {
	var dbname string
	if err := db.QueryRowContext(ctx, `SELECT current_database()`).Scan(&dbname); err != nil {
		return nil, fmt.Errorf("fence database: %w", err)
	}
	// Our own session keeps writing.
	if _, err := db.ExecContext(ctx, `SET default_transaction_read_only = off`); err != nil {
		return nil, fmt.Errorf("fence database: %w", err)
	}
	if _, err := db.ExecContext(ctx, "ALTER DATABASE "+ident(dbname)+" SET default_transaction_read_only = on"); err != nil {
		return nil, fmt.Errorf("fence database %s: %w", dbname, err)
	}
	unfence = func(ctx context.Context) error {
		if _, err := db.ExecContext(ctx, "ALTER DATABASE "+ident(dbname)+" RESET default_transaction_read_only"); err != nil {
			return fmt.Errorf("unfence database %s: %w", dbname, err)
		}
		if _, err := terminateSessions(ctx, db, r.cfg.AppRoles, false); err != nil {
			return fmt.Errorf("unfence database %s: %w", dbname, err)
		}
		return nil
	}
	deadline := time.Now().Add(r.cfg.DrainTimeout)
	for time.Now().Before(deadline) {
		var writers int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND pid <> pg_backend_pid() AND usename = ANY($1::text[]) AND backend_xid IS NOT NULL`, r.cfg.AppRoles).Scan(&writers); err != nil {
			return unfence, fmt.Errorf("fence database: %w", err)
		}
		if writers == 0 {
			break
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return unfence, err
		}
	}
	if _, err := terminateSessions(ctx, db, r.cfg.AppRoles, false); err != nil {
		return unfence, fmt.Errorf("fence database: %w", err)
	}
	return unfence, nil
}

// terminateSessions ends the sessions of roles on this database (only idle
// ones when idleOnly), never schemacanary's own. It returns how many.
func terminateSessions(ctx context.Context, db *sql.DB, roles []string, idleOnly bool) (int, error) {
	if len(roles) == 0 {
		return 0, nil
	}
	q := `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND usename = ANY($1::text[])
		AND application_name <> $2`
	if idleOnly {
		q += ` AND state = 'idle'`
	}
	var n int
	if err := db.QueryRowContext(ctx, q, roles, ApplicationName).Scan(&n); err != nil {
		return 0, fmt.Errorf("terminate sessions of %s: %w", strings.Join(roles, ", "), err)
	}
	return n, nil
}

// reset runs the configured restart after the down: terminate the app
// roles' idle sessions (their cached plans may reference dropped objects),
// run the operator's command, or nothing.
func (r *Rollbacker) reset(ctx context.Context, db *sql.DB, inst Instance, version int64) (string, error) {
	switch r.cfg.Restart {
	case RestartSessions:
		n, err := terminateSessions(ctx, db, r.cfg.AppRoles, true)
		return fmt.Sprintf("terminated %d idle session(s) of %s", n, strings.Join(r.cfg.AppRoles, ", ")), err
	case RestartCommand:
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CommandTimeout)
		defer cancel()
		cmd := exec.CommandContext(cctx, "/bin/sh", "-c", r.cfg.Command)
		cmd.Env = append(os.Environ(), "SCHEMACANARY_INSTANCE="+inst.Name, "SCHEMACANARY_VERSION="+strconv.FormatInt(version, 10))
		out, err := cmd.CombinedOutput()
		msg := strings.TrimSpace(string(out))
		if len(msg) > 500 {
			msg = msg[len(msg)-500:]
		}
		if err != nil {
			return msg, fmt.Errorf("restart command: %w: %s", err, msg)
		}
		return "restart command ok: " + msg, nil
	}
	return "no restart", nil
}

// liftLeftoverFence resets a database-level default_transaction_read_only
// = on, which with fence: database only a rollback sets (schemacanary owns
// that setting then), and reports whether there was one to lift.
func (r *Rollbacker) liftLeftoverFence(ctx context.Context, db *sql.DB) (bool, error) {
	var dbname string
	var fenced bool
	err := db.QueryRowContext(ctx, `SELECT current_database(), EXISTS (
			SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
			WHERE d.datname = current_database() AND s.setrole = 0
			  AND 'default_transaction_read_only=on' = ANY (s.setconfig))`).Scan(&dbname, &fenced)
	if err != nil || !fenced {
		if err != nil {
			err = fmt.Errorf("read the database fence: %w", err)
		}
		return false, err
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unfenceTimeout)
	defer cancel()
	// This session started read-only too (db holds one connection).
	if _, err := db.ExecContext(uctx, `SET default_transaction_read_only = off`); err != nil {
		return false, fmt.Errorf("unfence database %s: %w", dbname, err)
	}
	if _, err := db.ExecContext(uctx, "ALTER DATABASE "+ident(dbname)+" RESET default_transaction_read_only"); err != nil {
		return false, fmt.Errorf("unfence database %s: %w", dbname, err)
	}
	if _, err := terminateSessions(uctx, db, r.cfg.AppRoles, false); err != nil {
		return true, fmt.Errorf("unfence database %s: %w", dbname, err)
	}
	return true, nil
}
