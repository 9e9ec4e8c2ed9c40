// Package rollout takes one goose migration through a PostgreSQL fleet: it
// applies it lock-safely on a canary wave, samples KPIs on canary and
// control, lets the judge decide, and either rolls back (fence, archive,
// down, reset, unfence) without losing data or promotes it wave by wave.
//
// The goose version table on each instance is the truth about what is
// applied; every step checks it first, so a rollout can be resumed after a
// crash by calling the same function again.
package rollout

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ArchiveSchema is the schema rollbacks copy dropped data into.
const ArchiveSchema = "schemacanary_archive"

// Plan is what to roll out: one goose SQL migration as plain values, the
// change's rollout plan. The reconciler builds it once, from the parsed
// migration.Migration and the analysis report (reconciler.PlanChange), and
// stores it; the CLI builds it from a file.
type Plan struct {
	// Version is the goose version (the numeric filename prefix).
	Version int64
	// Name is the rest of the filename without ".sql" ("add_note"); it only
	// names the file handed to goose.
	Name string
	// Source is the goose SQL file; goose's Provider parses it itself.
	Source []byte
	// Tables are the schema-qualified tables the Up section touches
	// ("public.orders"); the lock-safety check and the fence use them.
	Tables []string
	// Lock is the strongest lock mode the Up section takes, in PostgreSQL's
	// pg_locks spelling ("AccessExclusiveLock"); "" means none is known, and
	// AccessExclusiveLock is then assumed.
	Lock string
	// DownLock is the strongest lock the Down section takes ("" assumes
	// AccessExclusiveLock).
	DownLock string
	// Archive lists what the Down section would drop; a rollback copies it
	// into ArchiveSchema first unless AllowDataLoss.
	Archive []ArchiveTarget
	// AllowDataLoss lets a rollback drop data without archiving it.
	AllowDataLoss bool
	// NoTransaction mirrors goose's "-- +goose NO TRANSACTION" (e.g. CREATE
	// INDEX CONCURRENTLY); such a change cannot be rolled back inside the
	// fencing transaction and its Down runs statement by statement.
	NoTransaction bool
	// Bake overrides CanaryConfig.Bake when > 0 (front matter "bake").
	Bake time.Duration
	// Indexes are the indexes the Up section creates. After a failed
	// CREATE INDEX CONCURRENTLY, only an INVALID index named here is
	// dropped (by exact schema and name; an unnamed one by its table, and
	// only when it appeared during the failed attempt).
	Indexes []IndexRef
	// Schemas are the schemas the file names explicitly
	// ("public.orders" names public), sorted; a schema-per-tenant target
	// refuses a change that names DefaultSchema (see Plan.On).
	Schemas []string
	// DataChecks are the questions about a target's rows that decide
	// whether the Up section can succeed there; each target's pre-flight
	// answers them on its own rows (see DataChecker).
	DataChecks []DataCheck
}

// IndexRef names an index a change creates: its schema, its table, and its
// name ("" when the statement lets PostgreSQL choose it).
type IndexRef struct {
	Schema, Table, Name string
}

// ArchiveTarget is one column (Column != "") or whole table (Column == "")
// that a Down section drops.
type ArchiveTarget struct {
	Schema string
	Table  string
	Column string
}

// String renders the target as schema.table[.column].
func (a ArchiveTarget) String() string {
	s := a.Table
	if a.Schema != "" {
		s = a.Schema + "." + s
	}
	if a.Column != "" {
		s += "." + a.Column
	}
	return s
}

// ErrInvalidChange is wrapped by Plan.Validate.
var ErrInvalidChange = errors.New("invalid change")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]*$`)

// Validate checks that the change can be handed to goose.
func (c *Plan) Validate() error {
	var errs []error
	if c.Version <= 0 {
		errs = append(errs, fmt.Errorf("version %d: must be > 0", c.Version))
	}
	if !nameRE.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("name %q: only letters, digits, '_', '-', '.'", c.Name))
	}
	if len(c.Source) == 0 {
		errs = append(errs, errors.New("source: empty"))
	} else if !strings.Contains(string(c.Source), "+goose Up") {
		errs = append(errs, errors.New("source: no '-- +goose Up' annotation"))
	}
	for _, t := range c.Archive {
		if t.Table == "" {
			errs = append(errs, fmt.Errorf("archive target %q: table is empty", t))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w %d: %w", ErrInvalidChange, c.Version, errors.Join(errs...))
	}
	return nil
}

// Filename is the goose filename of the change: "<version>_<name>.sql".
func (c *Plan) Filename() string {
	name := c.Name
	if name == "" {
		name = "change"
	}
	return fmt.Sprintf("%d_%s.sql", c.Version, name)
}

// upLock is the lock mode the Up section needs, AccessExclusiveLock when unknown.
func (c *Plan) upLock() string {
	if c.Lock == "" {
		return "AccessExclusiveLock"
	}
	return c.Lock
}

// downLock is the lock mode the Down section needs, AccessExclusiveLock when unknown.
func (c *Plan) downLock() string {
	if c.DownLock == "" {
		return "AccessExclusiveLock"
	}
	return c.DownLock
}

var (
	gooseAnnotation = regexp.MustCompile(`(?i)^\s*--\s*\+goose\b\s*(.*)$`)
)

// DownSQL returns the Down section of the goose file as one script, goose
// annotation lines removed (PostgreSQL's own parser splits it, so
// StatementBegin/End blocks need no special care). envsub reports an
// "-- +goose ENVSUB ON" annotation, which only goose itself can expand.
func (c *Plan) DownSQL() (script string, envsub bool, err error) {
	var b strings.Builder
	in := false
	found := false
	for _, line := range strings.Split(strings.ReplaceAll(string(c.Source), "\r\n", "\n"), "\n") {
		if m := gooseAnnotation.FindStringSubmatch(line); m != nil {
			word := strings.ToLower(strings.Join(strings.Fields(m[1]), " "))
			switch {
			case word == "down":
				in, found = true, true
			case word == "up":
				in = false
			case word == "envsub on":
				envsub = true
			}
			continue
		}
		if in {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	if !found {
		return "", envsub, fmt.Errorf("change %d: no '-- +goose Down' section", c.Version)
	}
	return b.String(), envsub, nil
}
