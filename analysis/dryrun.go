package analysis

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// globalKinds are statement kinds whose effect is on the whole cluster
// (databases, roles, tablespaces, server settings), not on the database
// they run in: a dry run in a scratch database on the same server would
// change the real thing, so such files are not dry-run.
var globalKinds = map[string]bool{
	"create_database": true, "drop_database": true, "alter_database": true, "alter_database_set": true,
	"alter_database_refresh_coll": true, "alter_system": true,
	"create_role": true, "alter_role": true, "alter_role_set": true, "drop_role": true, "grant_role": true,
	"create_table_space": true, "drop_table_space": true, "alter_table_space_options": true,
	"reassign_owned": true, "drop_owned": true, "create_subscription": true, "alter_subscription": true,
	"drop_subscription": true, "load": true,
}

// runDryRun applies the Up section to a schema-only scratch copy of the
// target the way goose would (one transaction unless NO TRANSACTION, each
// statement in order) and rolls it back. A failure is a dry-run-failed
// finding at the failing statement; a dry run that cannot be set up is a
// check-not-run finding. It is skipped when the report already has a
// certain failure (the change fails anyway) or touches cluster-wide objects.
func (t *Target) runDryRun(ctx context.Context, m migration.Migration, rep *Report) {
	live := rep.Live
	if rep.Gate().Failed() {
		live.DryRun = CheckSkipped
		return
	}
	for _, s := range rep.Statements {
		if s.Section == SectionUp && globalKinds[s.Kind] {
			live.DryRun = CheckNotRun
			addFinding(rep, m, "check-not-run", s.Line, s.Index,
				"dry run not run: %s changes the whole server (%s), which a scratch database cannot contain", strings.ToUpper(strings.ReplaceAll(s.Kind, "_", " ")), s.Kind)
			return
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 4*t.timeout)
	defer cancel()
	sc, err := newScratch(dctx, t.dsn, t.binDir, "dryrun")
	if err != nil {
		live.DryRun = CheckNotRun
		if ctx.Err() == nil {
			addFinding(rep, m, "check-not-run", 0, -1, "dry run not run: no schema-only copy of the target: %s", redactDSNError(err))
		}
		return
	}
	defer sc.Close(ctx)
	failed, err := dryApply(dctx, sc.dsn, m, t.timeout)
	switch {
	case err != nil:
		live.DryRun = CheckNotRun
		if ctx.Err() == nil {
			addFinding(rep, m, "check-not-run", 0, -1, "dry run not run: %s", pgErrorText(err))
		}
	case failed != nil:
		live.DryRun = CheckFailed
		addFinding(rep, m, "dry-run-failed", failed.stmt.Line, failed.index,
			"Up fails on a schema-only copy of the target at line %d: %s", failed.stmt.Line, pgErrorText(failed.err))
	default:
		live.DryRun = CheckPassed
	}
}

// dryFailure is the statement of a dry run that PostgreSQL rejected.
type dryFailure struct {
	stmt  migration.Statement
	index int
	err   error
}

// dryApply runs m's Up section on dsn: BEGIN; SET LOCAL lock_timeout and
// statement_timeout; Up; ROLLBACK (or statement by statement with session
// timeouts for NO TRANSACTION files). It returns the rejected statement,
// or an error when the dry run itself could not run.
func dryApply(ctx context.Context, dsn string, m migration.Migration, timeout time.Duration) (*dryFailure, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to the scratch copy: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	set := fmt.Sprintf("SET %%s lock_timeout = '5s'; SET %%s statement_timeout = '%dms'", timeout.Milliseconds())
	if !m.NoTransaction {
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			return nil, err
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf(set, "LOCAL", "LOCAL")); err != nil {
			return nil, err
		}
		defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK") }() // ends the dry run; an error means the connection is gone with it
	} else if _, err := conn.Exec(ctx, fmt.Sprintf(set, "SESSION", "SESSION")); err != nil {
		return nil, err
	}
	for i, s := range m.Up {
		if _, err := conn.Exec(ctx, s.SQL); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return &dryFailure{stmt: s, index: i, err: err}, nil
		}
	}
	return nil, nil
}
