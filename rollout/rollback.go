package rollout

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pressly/goose/v3/database"
)

// Rollbacker takes a change back out of one instance without losing data:
// in one transaction under lock_timeout it fences writes, archives what
// the Down section drops, runs the Down and deletes goose's version row;
// then it resets sessions and lifts the fence. It is safe for concurrent use.
type Rollbacker struct {
	cfg        RollbackConfig
	applier    *Applier
	em         emitter
	gooseTable string
}

// NewRollbacker validates both configs (after filling defaults). canary
// supplies the lock-safety settings (long-transaction wait, backoff,
// statement_timeout) shared with the Applier.
func NewRollbacker(cfg RollbackConfig, canary CanaryConfig, opts ...Option) (*Rollbacker, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a, err := NewApplier(canary, opts...)
	if err != nil {
		return nil, err
	}
	return &Rollbacker{cfg: cfg, applier: a, em: a.em, gooseTable: a.gooseTable}, nil
}

// RollbackResult reports one rollback on one instance.
type RollbackResult struct {
	Instance string
	Version  int64
	Reason   string
	// AlreadyDone: the goose table did not hold the version; nothing ran.
	AlreadyDone bool
	// Fence is "tables" or "database" ("none" for NO TRANSACTION changes).
	Fence string
	// Fenced are the tables locked against writes.
	Fenced []string
	// Archived lists the archive tables written.
	Archived []ArchivedTable
	// Attempts of the rollback transaction.
	Attempts int
	// Waited for long transactions before attempts.
	Waited time.Duration
	// Reset says what the restart step did.
	Reset string
	// Started, Committed and Finished time the rollback; Committed is when
	// the down committed (writes were fenced from the lock until then).
	Started, Committed, Finished time.Time
}

// unfenceTimeout bounds lifting a database fence (it runs even after a
// cancel).
const unfenceTimeout = 10 * time.Second

// Rollback reverts ch on inst. reason is written into the archive tables'
// comments and the events. Calling it again after success is a no-op
// (AlreadyDone), so a crashed rollback is resumed by calling it again.
func (r *Rollbacker) Rollback(ctx context.Context, inst Instance, ch *Plan, reason string) (*RollbackResult, error) {
	if err := ch.Validate(); err != nil {
		return nil, err
	}
	ch, err := ch.On(inst)
	if err != nil {
		return nil, err
	}
	res := &RollbackResult{Instance: inst.Name, Version: ch.Version, Reason: reason, Fence: r.cfg.Fence, Started: time.Now()}
	if inst.Schema != "" && res.Fence == FenceDatabase {
		// A read-only database would fence every tenant in it: a tenant
		// is fenced by its tables.
		res.Fence = FenceTables
	}
	defer func() { res.Finished = time.Now() }()
	emit := func(step Step, d time.Duration, msg string, err error) {
		r.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: step, Duration: d, Message: msg, Err: err})
	}
	down, envsub, err := ch.DownSQL()
	if err != nil {
		return nil, err
	}
	params := r.applier.sessionParams()
	params["lock_timeout"] = pgDuration(r.cfg.LockTimeout)
	db, err := openDB(ctx, inst, params)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	table := inst.gooseTable(r.gooseTable)
	applied, err := isApplied(ctx, db, table, ch.Version)
	if err != nil {
		return nil, fmt.Errorf("rollback %d on %s: %w", ch.Version, inst.Name, err)
	}
	if !applied {
		res.AlreadyDone = true
		if res.Fence == FenceDatabase {
			// A rollback killed after its down committed but before it
			// lifted the fence left the database read-only: lift it now.
			lifted, err := r.liftLeftoverFence(ctx, db)
			if err != nil {
				emit(StepUnfence, 0, "could not lift the database fence an interrupted rollback left", err)
				return res, fmt.Errorf("rollback %d on %s: %w", ch.Version, inst.Name, err)
			}
			if lifted {
				emit(StepUnfence, 0, "database read-write again (the fence of an interrupted rollback)", nil)
			}
		}
		emit(StepRollback, 0, "not applied; nothing to roll back", nil)
		return res, nil
	}
	if ch.NoTransaction || envsub {
		return r.rollbackWithGoose(ctx, db, inst, ch, reason, res)
	}
	if res.Fence == FenceDatabase {
		unfence, err := r.fenceDatabase(ctx, db)
		if unfence != nil {
			defer func() {
				// Lifted even when the rollback was cancelled, but not
				// waited on for ever.
				uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unfenceTimeout)
				defer cancel()
				if err := unfence(uctx); err != nil {
					emit(StepUnfence, 0, "could not lift the database fence", err)
				} else {
					emit(StepUnfence, 0, "database read-write again", nil)
				}
			}()
		}
		if err != nil {
			return res, fmt.Errorf("rollback %d on %s: %w", ch.Version, inst.Name, err)
		}
		emit(StepFence, time.Since(res.Started), "database read-only, app sessions terminated", nil)
	}
	tables := fenceSet(ch)
	budget := r.applier.cfg.MaxWait
	for attempt := 1; ; attempt++ {
		waited, holders, err := r.applier.waitForLongTransactions(ctx, db, inst, ch.Version, tables, ch.downLock(), budget)
		res.Waited += waited
		budget -= waited
		if errors.Is(err, ErrLockTimeout) {
			return res, &LockTimeoutError{Instance: inst.Name, Version: ch.Version, Attempts: attempt - 1, Waited: res.Waited, Holders: holders}
		}
		if err != nil {
			return res, err
		}
		res.Attempts = attempt
		start := time.Now()
		err = r.rollbackTx(ctx, db, table, ch, down, tables, reason, res)
		if err == nil && res.AlreadyDone {
			emit(StepRollback, 0, "not applied; nothing to roll back", nil)
			return res, nil
		}
		if err == nil {
			res.Committed = time.Now()
			emit(StepDown, time.Since(start), fmt.Sprintf("fenced %v, archived %d table(s), down committed, goose row deleted", res.Fenced, len(res.Archived)), nil)
			break
		}
		if ctx.Err() != nil {
			// Stopped (shutdown, lost leadership): the transaction was
			// cancelled on the server and rolled back; the goose row is
			// still there, so the next Rollback starts over.
			return res, fmt.Errorf("rollback %d on %s interrupted: %w", ch.Version, inst.Name, ctx.Err())
		}
		if !isLockTimeout(err) {
			emit(StepDown, time.Since(start), "rollback transaction failed", err)
			return res, fmt.Errorf("rollback %d on %s: %w", ch.Version, inst.Name, err)
		}
		emit(StepFence, time.Since(start), fmt.Sprintf("rollback hit lock_timeout %s (attempt %d)", r.cfg.LockTimeout, attempt), nil)
		if attempt > r.cfg.Retries {
			return res, &LockTimeoutError{Instance: inst.Name, Version: ch.Version, Attempts: attempt, Waited: res.Waited, Err: err}
		}
		if err := sleep(ctx, backoff(r.applier.cfg.Backoff, r.applier.cfg.MaxBackoff, attempt)); err != nil {
			return res, err
		}
	}
	msg, err := r.reset(ctx, db, inst, ch.Version)
	res.Reset = msg
	emit(StepReset, 0, msg, err)
	if err != nil {
		// The down is committed; a failed reset is reported, not undone.
		return res, fmt.Errorf("rollback %d on %s: down committed, but %w", ch.Version, inst.Name, err)
	}
	emit(StepRollback, time.Since(res.Started), "rolled back: "+reason, nil)
	return res, nil
}

// fenceSet is every table the change touches or the down drops from.
func fenceSet(ch *Plan) []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, t := range ch.Tables {
		add(t)
	}
	for _, a := range ch.Archive {
		add(qualified(a.Schema, a.Table))
	}
	sort.Strings(out)
	return out
}

// rollbackTx is the one transaction: lock_timeout, fence, archive, down,
// goose row deleted, commit.
func (r *Rollbacker) rollbackTx(ctx context.Context, db *sql.DB, gooseTable string, ch *Plan, down string, tables []string, reason string, res *RollbackResult) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // err is the one to report; a failed rollback ends with the connection
		}
	}()
	if _, err := tx.ExecContext(ctx, "SET LOCAL lock_timeout = '"+pgDuration(r.cfg.LockTimeout)+"'"); err != nil {
		return err
	}
	applied, err := isApplied(ctx, tx, gooseTable, ch.Version)
	if err != nil {
		return err
	}
	if !applied {
		res.AlreadyDone = true
		return tx.Rollback()
	}
	if res.Fence == FenceTables {
		if res.Fenced, err = fenceTables(ctx, tx, tables); err != nil {
			return err
		}
	}
	if !ch.AllowDataLoss {
		if res.Archived, err = archive(ctx, tx, ch.Version, ch.Archive, reason); err != nil {
			return err
		}
	}
	if strings.TrimSpace(down) != "" {
		if _, err := tx.ExecContext(ctx, down); err != nil {
			return fmt.Errorf("down section: %w", err)
		}
	}
	store, err := database.NewStore(database.DialectPostgres, gooseTable)
	if err != nil {
		return err
	}
	if err := store.Delete(ctx, tx, ch.Version); err != nil {
		return fmt.Errorf("delete goose version row: %w", err)
	}
	return tx.Commit()
}

// rollbackWithGoose handles NO TRANSACTION (and ENVSUB) changes: the down
// cannot share a transaction with a fence, so the archive commits first,
// then goose runs the down with the Applier's lock safety.
func (r *Rollbacker) rollbackWithGoose(ctx context.Context, db *sql.DB, inst Instance, ch *Plan, reason string, res *RollbackResult) (*RollbackResult, error) {
	res.Fence = "none"
	if !ch.AllowDataLoss && len(ch.Archive) > 0 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return res, err
		}
		if res.Archived, err = archive(ctx, tx, ch.Version, ch.Archive, reason); err != nil {
			_ = tx.Rollback() // err is the one to report; a failed rollback ends with the connection
			return res, fmt.Errorf("rollback %d on %s: %w", ch.Version, inst.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return res, fmt.Errorf("rollback %d on %s: archive: %w", ch.Version, inst.Name, err)
		}
	}
	step, err := r.applier.Revert(ctx, inst, ch)
	if step != nil {
		res.Attempts, res.Waited = step.Attempts, step.Waited
	}
	if err != nil {
		return res, err
	}
	res.Committed = time.Now()
	msg, err := r.reset(ctx, db, inst, ch.Version)
	res.Reset = msg
	if err != nil {
		return res, fmt.Errorf("rollback %d on %s: down committed, but %w", ch.Version, inst.Name, err)
	}
	r.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: StepRollback, Duration: time.Since(res.Started), Message: "rolled back (no transaction): " + reason})
	return res, nil
}

// InstanceVersion says whether one instance holds a change's version.
type InstanceVersion struct {
	Instance string
	// Applied is true when the goose table holds the version.
	Applied bool
	// Err is why the state is unknown (then Applied is meaningless).
	Err error
}

// PartialError is a rollout or rollback that stopped part way: it lists
// which instance holds the version and which does not, and unwraps to the
// cause.
type PartialError struct {
	Version int64
	// Op is "rollout" or "rollback".
	Op        string
	Instances []InstanceVersion
	Err       error
}

func (e *PartialError) Error() string {
	var held, not, unknown []string
	for _, iv := range e.Instances {
		switch {
		case iv.Err != nil:
			unknown = append(unknown, iv.Instance+" ("+iv.Err.Error()+")")
		case iv.Applied:
			held = append(held, iv.Instance)
		default:
			not = append(not, iv.Instance)
		}
	}
	list := func(s []string) string {
		if len(s) == 0 {
			return "none"
		}
		return strings.Join(s, ", ")
	}
	msg := fmt.Sprintf("%s of version %d incomplete: applied on %s; not applied on %s", e.Op, e.Version, list(held), list(not))
	if len(unknown) > 0 {
		msg += "; unknown on " + list(unknown)
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *PartialError) Unwrap() error { return e.Err }
