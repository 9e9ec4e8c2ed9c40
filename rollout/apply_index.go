package rollout

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// invalidIndexes lists the INVALID indexes of the database (pg_index.indisvalid).
func invalidIndexes(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid`)
	if err != nil {
		return nil, fmt.Errorf("list invalid indexes: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out[name] = true
	}
	return out, rows.Err()
}

// dropNewInvalidIndexes drops the INVALID indexes that appeared since
// before: a failed CREATE INDEX CONCURRENTLY leaves one behind. It returns
// the dropped ones and those it could not drop.
func (a *Applier) dropNewInvalidIndexes(ctx context.Context, db *sql.DB, inst Instance, ch *Change, before map[string]bool) (dropped, left []string) {
	after, err := invalidIndexes(ctx, db)
	if err != nil {
		a.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: StepCleanup, Err: err, Message: "cannot list invalid indexes"})
		return nil, []string{"(unknown: " + err.Error() + ")"}
	}
	for name := range after {
		if before[name] {
			continue
		}
		if a.dropIndex(ctx, db, inst, ch, name) {
			dropped = append(dropped, name)
		} else {
			left = append(left, name)
		}
	}
	return dropped, left
}

// dropLeftoverIndexes drops INVALID indexes whose name the change's source
// mentions: leftovers of an attempt that died before its cleanup.
func (a *Applier) dropLeftoverIndexes(ctx context.Context, db *sql.DB, inst Instance, ch *Change) []string {
	all, err := invalidIndexes(ctx, db)
	if err != nil {
		return nil
	}
	src := strings.ToLower(string(ch.Source))
	var dropped []string
	for name := range all {
		short := name
		if i := strings.LastIndexByte(short, '.'); i >= 0 {
			short = short[i+1:]
		}
		short = strings.Trim(short, `"`)
		if strings.Contains(src, strings.ToLower(short)) && a.dropIndex(ctx, db, inst, ch, name) {
			dropped = append(dropped, name)
		}
	}
	return dropped
}

// dropIndex runs DROP INDEX CONCURRENTLY (it blocks neither reads nor
// writes), retrying lock timeouts for up to CanaryConfig.MaxWait: it waits
// for the transactions that made the build fail.
func (a *Applier) dropIndex(ctx context.Context, db *sql.DB, inst Instance, ch *Change, name string) bool {
	var err error
	deadline := time.Now().Add(a.cfg.MaxWait)
	for attempt := 1; attempt == 1 || time.Now().Before(deadline); attempt++ {
		// name comes from regclass::text, which quotes as needed.
		if _, err = db.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+name); err == nil {
			a.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: StepCleanup, Attempt: attempt,
				Message: "dropped INVALID index " + name + " left by a failed CONCURRENTLY build"})
			return true
		}
		if !isLockTimeout(err) || sleep(ctx, backoff(a.cfg.Backoff, a.cfg.MaxBackoff, attempt)) != nil {
			break
		}
	}
	a.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: StepCleanup, Err: err,
		Message: "could not drop INVALID index " + name + "; drop it by hand: DROP INDEX CONCURRENTLY " + name})
	return false
}
