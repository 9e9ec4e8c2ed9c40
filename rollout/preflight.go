package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3/database"
)

// Pre-flight: before a wave's apply, every target of the wave is checked,
// read-only, and none is touched unless all pass:
//
//   - its goose version table is at the version the canary was at before
//     the change (a target behind or ahead of the fleet would get a change
//     written for another schema);
//   - the tables the change touches have the same definition (columns,
//     constraints, indexes, triggers) as on the canary before the change:
//     drift stops the wave with a diff naming the object;
//   - the plan's data checks (duplicates for a new UNIQUE, NULLs for SET
//     NOT NULL, rows violating a CHECK or FOREIGN KEY, values that do not
//     fit a narrowed type) pass on that target's own rows.
//
// A target that cannot be reached pauses the wave: the run ends with
// StatusPaused, reporting every instance's exact goose version, and a run
// from the same checkpoint (the reconciler's next pass) checks again.

// The pre-flight checks, in PreflightError.Check.
const (
	PreflightVersion     = "version"
	PreflightDrift       = "drift"
	PreflightData        = "data"
	PreflightUnreachable = "unreachable"
	// PreflightQualified: the change names DefaultSchema explicitly and the
	// target is schema-per-tenant (see Plan.On).
	PreflightQualified = "qualified"
)

// ErrPreflight is wrapped by every *PreflightError.
var ErrPreflight = errors.New("pre-flight failed")

// PreflightError is a target that failed its pre-flight: it was not
// touched.
type PreflightError struct {
	Instance string
	// Check is one of the Preflight* constants.
	Check string
	// Detail says what differs, in words (the drift diff, the violated
	// data check, the versions).
	Detail string
}

func (e *PreflightError) Error() string {
	return fmt.Sprintf("pre-flight on %s: %s: %s", e.Instance, e.Check, e.Detail)
}

// Unwrap returns ErrPreflight.
func (e *PreflightError) Unwrap() error { return ErrPreflight }

// DataCheck is one question about a target's rows that decides whether the
// change's Up section can succeed there. The analysis writes them into the
// plan (Spec is its own encoding of the check); a DataChecker answers them.
type DataCheck struct {
	// Table is the schema-qualified table whose rows are read.
	Table string `json:"table"`
	// What says in words what a violating row is ("duplicate (email)").
	What string `json:"what"`
	// Spec is the check as the DataChecker reads it.
	Spec json.RawMessage `json:"spec"`
}

// DataViolation is a data check that failed on an instance.
type DataViolation struct {
	Check DataCheck
	// Detail is the database's word on it ("" when the row itself is the
	// answer), e.g. the error converting a value to a narrowed type.
	Detail string
}

// DataChecker answers a plan's data checks on one instance, read-only.
type DataChecker interface {
	// CheckData returns the checks that failed; an error when a check
	// could not run.
	CheckData(ctx context.Context, inst Instance, checks []DataCheck) ([]DataViolation, error)
}

// WithDataChecker sets what answers the plan's data checks before each
// target's apply; without one, pre-flight checks versions and drift only.
func WithDataChecker(dc DataChecker) Option {
	return func(o *options) error { o.dataChecker = dc; return nil }
}

// SchemaPrint is the catalog definition of the tables a change touches,
// read before the change: per schema-qualified table, its sorted
// definition lines ("column note text", "index items_pkey CREATE UNIQUE
// INDEX ..."); a table that does not exist is the single line "absent".
type SchemaPrint map[string][]string

// Diff lists, in words, how other (read on otherName) differs from p (read
// on name), object by object; nil when they are the same.
func (p SchemaPrint) Diff(other SchemaPrint, name, otherName string) []string {
	var out []string
	tables := make([]string, 0, len(p))
	for t := range p {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		mine, theirs := p[t], other[t]
		for _, l := range mine {
			if !slices.Contains(theirs, l) {
				out = append(out, fmt.Sprintf("%s: %s on %s, not on %s", t, l, name, otherName))
			}
		}
		for _, l := range theirs {
			if !slices.Contains(mine, l) {
				out = append(out, fmt.Sprintf("%s: %s on %s, not on %s", t, l, otherName, name))
			}
		}
	}
	return out
}

// schemaPrintQuery reads one table's definition lines; nothing when the
// table does not exist. The lines name objects relative to the session's
// search_path (a schema-per-tenant target's is its schema), so the prints
// of two tenants compare: the table's own name, which pg_get_indexdef and
// pg_get_triggerdef always qualify, is written unqualified.
const schemaPrintQuery = `
WITH t AS (SELECT c.oid, ' ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' ' AS qualified,
                  ' ' || quote_ident(c.relname) || ' ' AS bare
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = to_regclass($1))
SELECT 'column ' || quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM t JOIN pg_attribute a ON a.attrelid = t.oid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid)
  FROM t JOIN pg_constraint c ON c.conrelid = t.oid
UNION ALL
SELECT 'index ' || replace(pg_get_indexdef(i.indexrelid), t.qualified, t.bare)
  FROM t JOIN pg_index i ON i.indrelid = t.oid
UNION ALL
SELECT 'trigger ' || replace(pg_get_triggerdef(g.oid), t.qualified, t.bare)
  FROM t JOIN pg_trigger g ON g.tgrelid = t.oid AND NOT g.tgisinternal
ORDER BY 1`

// readSchemaPrint reads the definitions of tables on db, each under the
// key of the same index: the plan's name of the table, which on a
// schema-per-tenant target is not the tenant's (the prints of two tenants
// compare by the plan's names; the definitions themselves name objects
// relative to the session's search_path, the tenant's schema).
func readSchemaPrint(ctx context.Context, db database.DBTxConn, keys, tables []string) (SchemaPrint, error) {
	p := SchemaPrint{}
	for i, t := range tables {
		rows, err := db.QueryContext(ctx, schemaPrintQuery, t)
		if err != nil {
			return nil, fmt.Errorf("read the definition of %s: %w", t, err)
		}
		var lines []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read the definition of %s: %w", t, err)
			}
			lines = append(lines, l)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("read the definition of %s: %w", t, err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read the definition of %s: %w", t, err)
		}
		if len(lines) == 0 {
			lines = []string{"absent"}
		}
		p[keys[i]] = lines
	}
	return p, nil
}

// gooseVersion is the highest version the goose table on db holds,
// leaving out except (the change being rolled out): what the instance is
// at before the change. 0 when the table holds nothing (or does not exist).
func gooseVersion(ctx context.Context, db database.DBTxConn, table string, except int64) (int64, error) {
	store, err := database.NewStore(database.DialectPostgres, table)
	if err != nil {
		return 0, err
	}
	if ext, ok := store.(database.StoreExtender); ok {
		exists, err := ext.TableExists(ctx, db)
		if err != nil || !exists {
			return 0, err
		}
	}
	list, err := store.ListMigrations(ctx, db)
	if err != nil {
		return 0, fmt.Errorf("read goose table: %w", err)
	}
	// Newest row first: the first row of a version says whether it is
	// applied (goose before the Provider API kept rows of reverted ones).
	seen := map[int64]bool{}
	var v int64
	for _, m := range list {
		if seen[m.Version] {
			continue
		}
		seen[m.Version] = true
		if m.IsApplied && m.Version != except && m.Version > v {
			v = m.Version
		}
	}
	return v, nil
}

// preflightState is what one target's pre-flight read.
type preflightState struct {
	applied bool // the change is already applied: nothing to check
	version int64
	print   SchemaPrint
}

// readPreflight reads inst's goose version and the schema print of the
// change's tables. An error is a connection failure (the target is
// unreachable) or a failed read.
func (c *Canary) readPreflight(ctx context.Context, inst Instance, ch *Plan, withPrint bool) (preflightState, error) {
	var st preflightState
	on, err := ch.On(inst)
	if err != nil {
		return st, err
	}
	table := inst.gooseTable(c.applier.gooseTable)
	err = c.applier.readers.read(ctx, inst, func(db database.DBTxConn) error {
		var err error
		if st.applied, err = isApplied(ctx, db, table, ch.Version); err != nil || st.applied {
			return err
		}
		if st.version, err = gooseVersion(ctx, db, table, ch.Version); err != nil {
			return err
		}
		if withPrint {
			st.print, err = readSchemaPrint(ctx, db, ch.Tables, on.Tables)
		}
		return err
	})
	return st, err
}

// capturePrint reads the canary's schema print and goose version before
// the change on first (the first canary instance not excluded); the waves
// after it are held to them. ok is false when first already holds the
// change (a run resumed after a
// crash mid-apply, which predates its print): drift is then not checked.
func (r *run) capturePrint(ctx context.Context, first Instance) (ok bool, err error) {
	if _, err := r.ch.On(first); err != nil {
		return true, nil // the pre-flight refuses the change there (PreflightQualified) before anything is applied
	}
	st, err := r.c.readPreflight(ctx, first, r.ch, true)
	if err != nil {
		return false, r.paused(ctx, 0, []*PreflightError{unreachable(first, err)})
	}
	if st.applied {
		return false, nil
	}
	r.schema, r.expected = st.print, st.version
	return true, nil
}

// readExpected reads the version the first canary instance was at before
// the change (a resumed run's canary holds it by now).
func (r *run) readExpected(ctx context.Context, wi int) error {
	first := r.waves[0].Instances[0]
	for _, in := range r.waves[0].Instances {
		if _, excluded := r.cmds.Excluded[in.Name]; !excluded {
			first = in // an excluded (say, unreachable) canary says nothing
			break
		}
	}
	err := r.c.applier.readers.read(ctx, first, func(db database.DBTxConn) error {
		var err error
		r.expected, err = gooseVersion(ctx, db, first.gooseTable(r.c.applier.gooseTable), r.ch.Version)
		return err
	})
	if err != nil {
		return r.paused(ctx, wi, []*PreflightError{unreachable(first, err)})
	}
	return nil
}

func unreachable(in Instance, err error) *PreflightError {
	return &PreflightError{Instance: in.Name, Check: PreflightUnreachable, Detail: err.Error()}
}

// preflight checks members (the instances of wave wi an operator has not
// excluded) before their apply (see the comment at the top of this file). It returns nil when all pass. When a
// target cannot be reached the wave is paused: StatusPaused and a
// *PartialError (Op "pre-flight") wrapping its *PreflightError, reporting
// every instance's goose version; running again from the same checkpoint
// goes on once it is back. When a target fails a check: StatusFailed and a
// *PartialError naming each failed target and why. Either way nothing of
// the wave was touched.
func (r *run) preflight(ctx context.Context, wi int, members []Instance) error {
	c, w := r.c, r.waves[wi]
	wctx := withWave(ctx, wi, w.Name)
	if r.expected < 0 {
		if err := r.readExpected(wctx, wi); err != nil {
			return err
		}
	}
	var mu sync.Mutex
	var failed, down []*PreflightError
	forEach(wctx, members, w.Concurrency, func(ctx context.Context, in Instance) error {
		pe, err := r.preflightOne(ctx, in)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			down = append(down, unreachable(in, err))
		case pe != nil:
			failed = append(failed, pe)
		}
		return nil
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rollout %d interrupted in the pre-flight of wave %d: %w", r.ch.Version, wi, err)
	}
	if len(down) > 0 {
		return r.paused(wctx, wi, down)
	}
	if len(failed) == 0 {
		c.em.emit(wctx, Event{Version: r.ch.Version, Step: StepPreflight,
			Message: fmt.Sprintf("wave %d (%s): pre-flight passed on %d instance(s)", wi, w.Name, len(members))})
		return nil
	}
	sortPreflight(failed)
	msgs := make([]string, len(failed))
	for i, pe := range failed {
		msgs[i] = pe.Error()
		c.em.emit(wctx, Event{Version: r.ch.Version, Instance: pe.Instance, Step: StepPreflight, Err: pe, Message: pe.Error()})
	}
	r.res.Status = StatusFailed
	r.res.Reason = fmt.Sprintf("wave %d (%s) stopped before its apply: %s", wi, w.Name, strings.Join(msgs, "; "))
	return &PartialError{Version: r.ch.Version, Op: "pre-flight", Instances: c.states(ctx, r.all(), r.ch.Version, w.Concurrency),
		Err: fmt.Errorf("wave %d (%s) not applied: %w", wi, w.Name, joinPreflight(failed))}
}

// paused ends the run with wave wi paused for the unreachable targets.
func (r *run) paused(ctx context.Context, wi int, down []*PreflightError) error {
	w := r.waves[wi]
	sortPreflight(down)
	names := make([]string, len(down))
	for i, pe := range down {
		names[i] = pe.Instance
	}
	fleet := r.fleetVersions(ctx)
	r.res.Status = StatusPaused
	r.res.Reason = fmt.Sprintf("wave %d (%s) paused before its apply: %s unreachable (%s); fleet: %s", wi, w.Name, strings.Join(names, ", "), down[0].Detail, fleet)
	r.c.em.emit(withWave(ctx, wi, w.Name), Event{Version: r.ch.Version, Step: StepPreflight, Err: down[0], Message: r.res.Reason})
	return &PartialError{Version: r.ch.Version, Op: "pre-flight", Instances: r.c.states(ctx, r.all(), r.ch.Version, w.Concurrency),
		Err: fmt.Errorf("wave %d (%s) paused: %w", wi, w.Name, joinPreflight(down))}
}

func sortPreflight(pes []*PreflightError) {
	sort.Slice(pes, func(i, j int) bool { return pes[i].Instance < pes[j].Instance })
}

func joinPreflight(pes []*PreflightError) error {
	errs := make([]error, len(pes))
	for i, pe := range pes {
		errs[i] = pe
	}
	return errors.Join(errs...)
}

// preflightOne checks one target; err is set when it could not be read
// (unreachable), pe when it failed a check.
func (r *run) preflightOne(ctx context.Context, in Instance) (pe *PreflightError, err error) {
	on, err := r.ch.On(in)
	if err != nil {
		return &PreflightError{Instance: in.Name, Check: PreflightQualified, Detail: err.Error()}, nil
	}
	st, err := r.c.readPreflight(ctx, in, r.ch, r.schema != nil)
	if err != nil || st.applied {
		return nil, err
	}
	if r.expected >= 0 && st.version != r.expected {
		return &PreflightError{Instance: in.Name, Check: PreflightVersion,
			Detail: fmt.Sprintf("its goose table is at version %d, the canary was at %d before this change", st.version, r.expected)}, nil
	}
	if r.schema != nil {
		if d := r.schema.Diff(st.print, "the canary before the change", in.Name); len(d) > 0 {
			return &PreflightError{Instance: in.Name, Check: PreflightDrift, Detail: "schema drift: " + strings.Join(d, "; ")}, nil
		}
	}
	if r.c.dataChecker != nil && len(on.DataChecks) > 0 {
		vs, err := r.c.dataChecker.CheckData(ctx, in, on.DataChecks)
		if err != nil {
			// A check that cannot run (a timeout, a permission) proves
			// nothing: the target is not touched until a human looks.
			return &PreflightError{Instance: in.Name, Check: PreflightData, Detail: "a data check could not run: " + err.Error()}, nil
		}
		if len(vs) > 0 {
			var ds []string
			for _, v := range vs {
				d := fmt.Sprintf("%s has %s", v.Check.Table, v.Check.What)
				if v.Detail != "" {
					d += " (" + v.Detail + ")"
				}
				ds = append(ds, d)
			}
			return &PreflightError{Instance: in.Name, Check: PreflightData,
				Detail: "the change would fail on this target's rows: " + strings.Join(ds, "; ")}, nil
		}
	}
	return nil, nil
}

// fleetVersions renders every instance's goose version ("db-1 at 7
// (holds 8)", "db-3 unreachable").
func (r *run) fleetVersions(ctx context.Context) string {
	all := r.all()
	out := make([]string, len(all))
	forEach(ctx, all, max(r.waves[0].Concurrency, 10), func(ctx context.Context, in Instance) error {
		i := slices.IndexFunc(all, func(x Instance) bool { return x.Name == in.Name })
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := r.c.readPreflight(rctx, in, r.ch, false)
		switch {
		case err != nil:
			out[i] = in.Name + " unreachable"
		case st.applied:
			out[i] = fmt.Sprintf("%s holds %d", in.Name, r.ch.Version)
		default:
			out[i] = fmt.Sprintf("%s at %d", in.Name, st.version)
		}
		return nil
	})
	return strings.Join(out, ", ")
}
