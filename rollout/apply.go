package rollout

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/schemacanary/schemacanary/rollout/judge"
	"github.com/schemacanary/schemacanary/rollout/kpi"
)

// DefaultGooseTable is goose's version table, the truth about what is applied.
const DefaultGooseTable = "goose_db_version"

// ApplicationName is the application_name of schemacanary's own sessions;
// lock checks and session resets leave them alone.
const ApplicationName = "schemacanary"

// Option configures an Applier, a Rollbacker or a Canary.
type Option func(*options) error

type options struct {
	log         *slog.Logger
	observe     Observer
	gooseTable  string
	sources     []kpi.KPISource
	judge       *judge.Judge
	dataChecker DataChecker
}

func buildOptions(opts []Option) (options, error) {
	o := options{log: slog.New(slog.DiscardHandler), gooseTable: DefaultGooseTable}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WithLogger sets the logger; default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("rollout: WithLogger(nil)")
		}
		o.log = l
		return nil
	}
}

// WithObserver sets the progress observer; default none.
func WithObserver(fn Observer) Option {
	return func(o *options) error { o.observe = fn; return nil }
}

// ApplyError is a migration that failed on an instance for a reason other
// than a lock timeout (a SQL error, a statement_timeout, ...): the canary's
// "migration error" hard guard. goose ran it in a transaction, so nothing of
// it stays (unless the change is NO TRANSACTION).
type ApplyError struct {
	Instance  string
	Version   int64
	Direction string
	Err       error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("%s %d on %s: %v", e.Direction, e.Version, e.Instance, e.Err)
}

// Unwrap returns the cause.
func (e *ApplyError) Unwrap() error { return e.Err }

// StepResult reports one Apply or Revert on one instance.
type StepResult struct {
	Instance  string
	Version   int64
	Direction string // "up" or "down"
	// AlreadyDone is true when the goose table already said so; nothing ran.
	AlreadyDone bool
	// Attempts is how many times the migration ran (0 when AlreadyDone).
	Attempts int
	// Waited is the time spent waiting for long transactions.
	Waited time.Duration
	// Started and Finished bound the whole step.
	Started, Finished time.Time
	// CleanedIndexes lists INVALID indexes a failed CONCURRENTLY build left
	// and this step dropped.
	CleanedIndexes []string
}

// Applier applies and reverts one change on one instance with goose's
// Provider, lock-safely. It is safe for concurrent use.
type Applier struct {
	cfg        CanaryConfig
	em         emitter
	gooseTable string
	readers    *readers
}

// NewApplier validates cfg (after filling defaults) and returns an Applier.
func NewApplier(cfg CanaryConfig, opts ...Option) (*Applier, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	a := &Applier{cfg: cfg, em: emitter{log: o.log, observe: o.observe}, gooseTable: o.gooseTable}
	a.readers = newReaders(a.sessionParams())
	return a, nil
}

// Close releases the sessions the applier keeps for read-only look-ups
// (see readers.go). It may be used again afterwards.
func (a *Applier) Close() { a.readers.close() }

// cancelGrace is how long a cancelled statement gets to stop on the server
// (PostgreSQL's cancel request) before its connection is closed.
const cancelGrace = 2 * time.Second

// openDB opens a single-connection pool whose session has our timeouts.
// Cancelling a statement's context cancels it on the server before the call
// returns (a cancel request, then the connection is closed after
// cancelGrace; pgx's default closes first and cancels in the background,
// which a process that exits right after may never send), so a stopping
// daemon leaves no DDL running, and no lock held, behind it: goose's
// transaction is rolled back and the next Apply starts clean.
func openDB(ctx context.Context, inst Instance, params map[string]string) (*sql.DB, error) {
	cfg, err := inst.ConnConfig(params)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("instance %s: connect: %w", inst.Name, err)
	}
	return db, nil
}

// ConnConfig is the configuration of a session on the instance as
// schemacanary opens them: its DSN, ApplicationName, the tenant's
// search_path on a schema-per-tenant target, params as runtime
// parameters, and a cancelled statement cancelled on the server.
func (i Instance) ConnConfig(params map[string]string) (*pgx.ConnConfig, error) {
	return connConfig(i, i.sessionParams(params))
}

// connConfig is the connection configuration of every session
// schemacanary opens on inst: its DSN, ApplicationName, params as runtime
// parameters, and a cancelled statement cancelled on the server (see
// openDB).
func connConfig(inst Instance, params map[string]string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(inst.DSN)
	if err != nil {
		return nil, fmt.Errorf("instance %s: parse DSN: %w", inst.Name, err)
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelGrace}
	}
	cfg.RuntimeParams["application_name"] = ApplicationName
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	return cfg, nil
}

func pgDuration(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

func (a *Applier) sessionParams() map[string]string {
	return map[string]string{
		"lock_timeout":      pgDuration(a.cfg.LockTimeout),
		"statement_timeout": pgDuration(a.cfg.StatementTimeout),
	}
}

// provider builds a goose Provider over a file system holding just the
// change's file; out-of-order application is allowed so one change at a
// time can be applied whatever else the version table holds.
// When started is not nil it counts the statements goose starts.
func (a *Applier) provider(db *sql.DB, inst Instance, ch *Plan, started *statementCounter) (*goose.Provider, error) {
	fsys := fstest.MapFS{ch.Filename(): &fstest.MapFile{Data: ch.Source}}
	opts := []goose.ProviderOption{goose.WithAllowOutofOrder(true), goose.WithDisableGlobalRegistry(true), goose.WithTableName(inst.gooseTable(a.gooseTable))}
	if started != nil {
		opts = append(opts, goose.WithVerbose(true), goose.WithSlog(slog.New(started)))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("goose provider for %s: %w", ch.Filename(), err)
	}
	return p, nil
}

// Applied reports whether inst's goose table holds ch's version.
func (a *Applier) Applied(ctx context.Context, inst Instance, version int64) (applied bool, err error) {
	err = a.readers.read(ctx, inst, func(db database.DBTxConn) error {
		applied, err = isApplied(ctx, db, inst.gooseTable(a.gooseTable), version)
		return err
	})
	return applied, err
}

func isApplied(ctx context.Context, db database.DBTxConn, table string, version int64) (bool, error) {
	store, err := database.NewStore(database.DialectPostgres, table)
	if err != nil {
		return false, err
	}
	if ext, isExt := store.(database.StoreExtender); isExt {
		ok, err := ext.TableExists(ctx, db)
		if err != nil || !ok {
			return false, err
		}
	}
	_, err = store.GetMigration(ctx, db, version)
	if errors.Is(err, database.ErrVersionNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read goose table: %w", err)
	}
	return true, nil
}

// Apply runs ch's Up section on inst unless the goose table already holds
// it. Before every attempt it waits, without queueing, while a long
// transaction holds or awaits a lock conflicting with ch.Lock on ch.Tables;
// each attempt runs under lock_timeout and statement_timeout, and a lock
// timeout is retried with exponential backoff and jitter. Errors: a
// *LockTimeoutError (errors.Is ErrLockTimeout) when the lock never came,
// an *ApplyError when the migration itself failed.
func (a *Applier) Apply(ctx context.Context, inst Instance, ch *Plan) (*StepResult, error) {
	return a.run(ctx, inst, ch, true)
}

// Revert runs ch's Down section on inst through goose, with the same lock
// safety as Apply, unless the goose table does not hold the version. It
// neither fences nor archives: Rollbacker.Rollback does, and uses Revert
// only for NO TRANSACTION changes.
func (a *Applier) Revert(ctx context.Context, inst Instance, ch *Plan) (*StepResult, error) {
	return a.run(ctx, inst, ch, false)
}

func (a *Applier) run(ctx context.Context, inst Instance, ch *Plan, up bool) (*StepResult, error) {
	if err := ch.Validate(); err != nil {
		return nil, err
	}
	ch, err := ch.On(inst)
	if err != nil {
		return nil, err
	}
	dir, mode := "up", ch.upLock()
	if !up {
		dir, mode = "down", ch.downLock()
	}
	res := &StepResult{Instance: inst.Name, Version: ch.Version, Direction: dir, Started: time.Now()}
	defer func() { res.Finished = time.Now() }()
	db, err := openDB(ctx, inst, a.sessionParams())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	applied, err := isApplied(ctx, db, inst.gooseTable(a.gooseTable), ch.Version)
	if err != nil {
		return nil, fmt.Errorf("%s %d on %s: %w", dir, ch.Version, inst.Name, err)
	}
	if applied == up {
		res.AlreadyDone = true
		a.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: StepApplied, Message: dir + " already recorded in the goose table"})
		return res, nil
	}
	var started *statementCounter
	if ch.NoTransaction {
		started = &statementCounter{}
	}
	p, err := a.provider(db, inst, ch, started)
	if err != nil {
		return nil, err
	}
	concurrently := strings.Contains(strings.ToUpper(string(ch.Source)), "CONCURRENTLY")
	if concurrently && up {
		// An INVALID index named in this change, on a database where the
		// change is not applied, is a leftover of a crashed attempt.
		res.CleanedIndexes = append(res.CleanedIndexes, a.dropLeftoverIndexes(ctx, db, inst, ch)...)
	}
	waitBudget := a.cfg.MaxWait
	for attempt := 1; ; attempt++ {
		waited, holders, err := a.waitForLongTransactions(ctx, db, inst, ch.Version, ch.Tables, mode, waitBudget)
		res.Waited += waited
		waitBudget -= waited
		if errors.Is(err, ErrLockTimeout) {
			return res, &LockTimeoutError{Instance: inst.Name, Version: ch.Version, Attempts: attempt - 1, Waited: res.Waited, Holders: holders}
		}
		if err != nil {
			return res, fmt.Errorf("%s %d on %s: %w", dir, ch.Version, inst.Name, err)
		}
		var before map[invalidIndex]bool
		if concurrently {
			before, _ = invalidIndexes(ctx, db) // on error before stays nil and no index is cleaned up after a failure (none is known to be ours)
		}
		res.Attempts = attempt
		started.reset()
		start := time.Now()
		_, err = p.ApplyVersion(ctx, ch.Version, up)
		took := time.Since(start)
		switch {
		case err == nil:
			a.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: StepApplied, Attempt: attempt, Duration: took,
				Message: fmt.Sprintf("%s committed after %d attempt(s)", dir, attempt)})
			return res, nil
		case up && errors.Is(err, goose.ErrAlreadyApplied), !up && errors.Is(err, goose.ErrNotApplied):
			res.AlreadyDone = true
			return res, nil
		case ctx.Err() != nil:
			// Stopped (shutdown, lost leadership): not the migration's
			// failure. goose's transaction was rolled back on the server.
			return res, fmt.Errorf("%s %d on %s interrupted: %w", dir, ch.Version, inst.Name, ctx.Err())
		}
		var left []string
		if concurrently && before != nil {
			var dropped []string
			dropped, left = a.dropNewInvalidIndexes(ctx, db, inst, ch, before)
			res.CleanedIndexes = append(res.CleanedIndexes, dropped...)
		}
		// Outside a transaction the statements before the failing one are
		// committed: running the file again would run them twice (an
		// INSERT twice, a CREATE into "already exists"), so a lock timeout
		// is retried only when the first statement hit it.
		retry := isLockTimeout(err)
		if n := started.count(); n > 1 {
			retry = false
			err = fmt.Errorf("%w: statement %d of the NO TRANSACTION migration's %s failed after the %d before it committed; "+
				"the goose table is left as it was, so the file is not run again: %w", ErrPartlyApplied, n, dir, n-1, err)
		}
		if len(left) > 0 && retry {
			// A retry would only trip over the leftover; the next Apply drops it first.
			return res, &LockTimeoutError{Instance: inst.Name, Version: ch.Version, Attempts: attempt, Waited: res.Waited,
				Err: fmt.Errorf("%w (INVALID index %s left; the next apply drops it)", err, strings.Join(left, ", "))}
		}
		if !retry {
			a.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: StepApply, Attempt: attempt, Duration: took, Err: err,
				Message: dir + " failed"})
			return res, &ApplyError{Instance: inst.Name, Version: ch.Version, Direction: dir, Err: err}
		}
		a.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: StepApply, Attempt: attempt, Duration: took,
			Message: fmt.Sprintf("%s hit lock_timeout %s", dir, a.cfg.LockTimeout)})
		if attempt > a.cfg.Retries {
			return res, &LockTimeoutError{Instance: inst.Name, Version: ch.Version, Attempts: attempt, Waited: res.Waited, Err: err}
		}
		if err := sleep(ctx, backoff(a.cfg.Backoff, a.cfg.MaxBackoff, attempt)); err != nil {
			return res, err
		}
	}
}

// ErrPartlyApplied is wrapped by the ApplyError of a NO TRANSACTION
// migration whose up (or down) failed after some of its statements
// committed, whatever the error. goose records nothing, so nothing undoes
// those statements: the error names how many committed, for an operator.
var ErrPartlyApplied = errors.New("migration partly applied")

// statementCounter is a slog.Handler that counts the statements goose
// starts: a verbose goose Provider logs "executing statement" before each
// one (goose v3.30's message; TestApplyDoesNotRerunAPartlyAppliedNoTransactionMigration
// fails if an upgrade changes it). The Applier reads it after a failure of
// a NO TRANSACTION migration, whose statements before the failing one are
// committed. A nil counter counts nothing.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) reset() {
	if c != nil {
		c.n.Store(0)
	}
}

func (c *statementCounter) count() int64 {
	if c == nil {
		return 0
	}
	return c.n.Load()
}

// Enabled accepts every record.
func (c *statementCounter) Enabled(context.Context, slog.Level) bool { return true }

// Handle counts goose's "executing statement" records.
func (c *statementCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "executing statement" {
		c.n.Add(1)
	}
	return nil
}

// WithAttrs returns c: attributes do not change what is counted.
func (c *statementCounter) WithAttrs([]slog.Attr) slog.Handler { return c }

// WithGroup returns c.
func (c *statementCounter) WithGroup(string) slog.Handler { return c }

// isLockTimeout reports SQLSTATE 55P03 (lock_not_available).
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// backoff is base·2^(attempt-1), capped, with ±50% jitter.
func backoff(base, limit time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + rand.N(d+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
