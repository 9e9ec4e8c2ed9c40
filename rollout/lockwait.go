package rollout

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrLockTimeout is returned (wrapped in a *LockTimeoutError) when a DDL
// could not get its lock: every attempt hit lock_timeout (SQLSTATE 55P03)
// and the retries ran out, or long transactions holding conflicting locks
// outlived CanaryConfig.MaxWait. Nothing was changed.
var ErrLockTimeout = errors.New("lock timeout")

// LockTimeoutError details an ErrLockTimeout.
type LockTimeoutError struct {
	Instance string
	Version  int64
	// Attempts is how many times the DDL was tried.
	Attempts int
	// Waited is the time spent waiting for long transactions.
	Waited time.Duration
	// Holders are the sessions in the way at the last look.
	Holders []LockHolder
	// Err is the last error from PostgreSQL, if any.
	Err error
}

func (e *LockTimeoutError) Error() string {
	var hs []string
	for _, h := range e.Holders {
		hs = append(hs, h.String())
	}
	msg := fmt.Sprintf("version %d on %s: %s after %d attempts and %s waiting for long transactions",
		e.Version, e.Instance, ErrLockTimeout, e.Attempts, e.Waited.Round(time.Millisecond))
	if len(hs) > 0 {
		msg += "; in the way: " + strings.Join(hs, "; ")
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns ErrLockTimeout and the last PostgreSQL error.
func (e *LockTimeoutError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrLockTimeout}
	}
	return []error{ErrLockTimeout, e.Err}
}

// LockHolder is a session that holds or awaits a lock conflicting with the
// one a DDL needs.
type LockHolder struct {
	PID      int
	Relation string
	Mode     string
	Granted  bool
	// XactAge is the age of the session's transaction.
	XactAge time.Duration
	State   string
	Query   string
}

// String renders the holder on one line.
func (h LockHolder) String() string {
	verb := "holds"
	if !h.Granted {
		verb = "awaits"
	}
	return fmt.Sprintf("pid %d %s %s on %s (transaction %s old, %s: %.60q)", h.PID, verb, h.Mode, h.Relation,
		h.XactAge.Round(time.Millisecond), h.State, h.Query)
}

// lockModes are PostgreSQL's table lock modes in order of strength.
var lockModes = []string{
	"AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
	"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
}

// conflictMatrix[i] lists the modes (indexes into lockModes) mode i
// conflicts with (PostgreSQL docs, "Conflicting Lock Modes").
var conflictMatrix = [][]int{
	{7},
	{6, 7},
	{4, 5, 6, 7},
	{3, 4, 5, 6, 7},
	{2, 3, 5, 6, 7},
	{2, 3, 4, 5, 6, 7},
	{1, 2, 3, 4, 5, 6, 7},
	{0, 1, 2, 3, 4, 5, 6, 7},
}

// normalizeLockMode accepts pg_locks names ("AccessExclusiveLock") and SQL
// spellings ("ACCESS EXCLUSIVE"); unknown modes count as AccessExclusiveLock.
func normalizeLockMode(mode string) string {
	m := strings.ToLower(strings.NewReplacer(" ", "", "_", "").Replace(mode))
	m = strings.TrimSuffix(m, "mode")
	m = strings.TrimSuffix(m, "lock")
	for _, name := range lockModes {
		if strings.TrimSuffix(strings.ToLower(name), "lock") == m {
			return name
		}
	}
	return "AccessExclusiveLock"
}

// ConflictingModes returns the pg_locks modes that conflict with mode.
func ConflictingModes(mode string) []string {
	mode = normalizeLockMode(mode)
	for i, name := range lockModes {
		if name == mode {
			out := make([]string, 0, len(conflictMatrix[i]))
			for _, j := range conflictMatrix[i] {
				out = append(out, lockModes[j])
			}
			return out
		}
	}
	return lockModes
}

// conflictingLockQuery lists sessions holding or awaiting a relation lock
// in a conflicting mode on the given tables (names that do not exist yet
// are skipped), excluding our own session.
const conflictingLockQuery = `
SELECT l.pid, l.relation::regclass::text, l.mode, l.granted,
       coalesce(extract(epoch FROM now() - coalesce(a.xact_start, a.query_start)), 0)::float8,
       coalesce(a.state, ''), left(coalesce(a.query, ''), 200)
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid <> pg_backend_pid()
  AND l.mode = ANY($2::text[])
  AND l.relation IN (SELECT to_regclass(t)::oid FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL)
ORDER BY 5 DESC`

// conflictingLocks returns the sessions in the way of a lock of mode on tables.
func conflictingLocks(ctx context.Context, db *sql.DB, tables []string, mode string) ([]LockHolder, error) {
	if len(tables) == 0 {
		return nil, nil
	}
	rows, err := db.QueryContext(ctx, conflictingLockQuery, tables, ConflictingModes(mode))
	if err != nil {
		return nil, fmt.Errorf("look for conflicting locks: %w", err)
	}
	defer rows.Close()
	var out []LockHolder
	for rows.Next() {
		var h LockHolder
		var age float64
		if err := rows.Scan(&h.PID, &h.Relation, &h.Mode, &h.Granted, &age, &h.State, &h.Query); err != nil {
			return nil, fmt.Errorf("look for conflicting locks: %w", err)
		}
		h.XactAge = time.Duration(age * float64(time.Second))
		out = append(out, h)
	}
	return out, rows.Err()
}

// waitForLongTransactions polls, without requesting any lock, until no
// session holding or awaiting a conflicting lock on tables has a
// transaction older than cfg.LongTransaction. It returns the time waited
// and the holders in the way when limit ran out (with ErrLockTimeout).
func (a *Applier) waitForLongTransactions(ctx context.Context, db *sql.DB, inst Instance, version int64, tables []string, mode string, limit time.Duration) (time.Duration, []LockHolder, error) {
	start := time.Now()
	poll := min(max(a.cfg.LongTransaction/4, 20*time.Millisecond), 250*time.Millisecond)
	lastReport := time.Time{}
	for {
		holders, err := conflictingLocks(ctx, db, tables, mode)
		if err != nil {
			return time.Since(start), nil, err
		}
		var old []LockHolder
		for _, h := range holders {
			if h.XactAge >= a.cfg.LongTransaction {
				old = append(old, h)
			}
		}
		waited := time.Since(start)
		if len(old) == 0 {
			return waited, nil, nil
		}
		if waited >= limit {
			return waited, old, ErrLockTimeout
		}
		if time.Since(lastReport) >= time.Second {
			lastReport = time.Now()
			a.em.emit(ctx, Event{Version: version, Instance: inst.Name, Step: StepWaitLocks, Duration: waited,
				Message: fmt.Sprintf("waiting for %d long transaction(s) holding or awaiting a lock that conflicts with %s: %s", len(old), mode, old[0])})
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Since(start), old, ctx.Err()
		case <-t.C:
		}
	}
}

// StrongestLock returns the strongest of the given lock modes in pg_locks
// spelling ("" when none is given or all are empty).
func StrongestLock(modes ...string) string {
	best := -1
	for _, m := range modes {
		if strings.TrimSpace(m) == "" {
			continue
		}
		n := normalizeLockMode(m)
		for i, name := range lockModes {
			if name == n && i > best {
				best = i
			}
		}
	}
	if best < 0 {
		return ""
	}
	return lockModes[best]
}
