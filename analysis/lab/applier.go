package lab

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/analysis"
)

// Arm names the way a trial applies its migration.
type Arm string

// The arms of a lab run.
const (
	// ArmProduct applies through the product's lock-safe applier (the
	// rollout's: wait without queueing while a long transaction is in the
	// way, short lock_timeout, retries with backoff), which the caller
	// passes to New. Its records are the training data.
	ArmProduct Arm = "product"
	// ArmGoose applies as plain goose does: one transaction (or statement
	// by statement for NO TRANSACTION), no lock_timeout, no waiting. It is
	// kept for comparison: what the labels were before the lab used the
	// product's applier.
	ArmGoose Arm = "goose"
)

// ParseArms parses "product", "goose" or "both" (product first).
func ParseArms(s string) ([]Arm, error) {
	switch s {
	case "product":
		return []Arm{ArmProduct}, nil
	case "goose":
		return []Arm{ArmGoose}, nil
	case "both":
		return []Arm{ArmProduct, ArmGoose}, nil
	default:
		return nil, fmt.Errorf("%w: arm %q: want product, goose or both", ErrBadConfig, s)
	}
}

// Migration is one migration as the lab hands it to an Applier: a goose
// file plus its analysis, from which the product's applier is given the
// plan the reconciler would make (reconciler.PlanChange: the tables to
// wait for, the locks, the indexes a failed CONCURRENTLY build leaves).
type Migration struct {
	// Version is the goose version, unique per run within a database.
	Version int64
	// Name is the rest of the goose filename ("add_nullable_column").
	Name string
	// Source is the goose SQL file.
	Source []byte
	// Report is the analysis of the file on the trial's database (nil when
	// there is none, as when the lab replays a corpus's history).
	Report *analysis.Report
	// NoTransaction mirrors "-- +goose NO TRANSACTION".
	NoTransaction bool
}

// ApplyResult is what an Applier reports about one Apply or Revert.
type ApplyResult struct {
	// Attempts is how many times the migration ran (lock timeouts retried).
	Attempts int
	// Waited is the time spent waiting, without requesting any lock, for
	// long transactions in the way; the trial's canary window starts after
	// it, since waiting cannot harm the traffic.
	Waited time.Duration
	// AlreadyDone is set when the goose table already said so.
	AlreadyDone bool
}

// ErrLockTimeout is wrapped by an Applier that gave up because it never
// got its lock (the product's applier after its retries). Nothing was
// applied.
var ErrLockTimeout = errors.New("lab: lock not acquired")

// Applier applies and reverts migrations on the database at dsn, the way
// one arm does. The lab declares it so that it can use the rollout's
// applier without importing the rollout (cmd/schemacanary wires it in);
// GooseApplier is the plain-goose arm. Implementations must be safe for
// concurrent use on different databases. When ctx ends during Apply, the
// migration must be abandoned (rolled back when it runs in a transaction).
type Applier interface {
	Apply(ctx context.Context, dsn string, m Migration) (ApplyResult, error)
	Revert(ctx context.Context, dsn string, m Migration) (ApplyResult, error)
}

var nameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// gooseName makes a goose filename part from an id.
func gooseName(id string) string {
	return strings.Trim(nameUnsafe.ReplaceAllString(id, "_"), "_")
}

// GooseFile renders statements as a goose SQL file: each statement in its
// own StatementBegin/StatementEnd block (so function bodies with
// semicolons stay whole), NO TRANSACTION on top when noTx.
func GooseFile(up, down []string, noTx bool) []byte {
	var b strings.Builder
	if noTx {
		b.WriteString("-- +goose NO TRANSACTION\n")
	}
	section := func(name string, stmts []string) {
		fmt.Fprintf(&b, "-- +goose %s\n", name)
		for _, s := range stmts {
			s = strings.TrimRight(strings.TrimSpace(s), ";")
			fmt.Fprintf(&b, "-- +goose StatementBegin\n%s;\n-- +goose StatementEnd\n", s)
		}
	}
	section("Up", up)
	section("Down", down)
	return []byte(b.String())
}

// migrationFor builds the applier's view of a migration from its goose
// file and the analysis report.
func migrationFor(version int64, name string, src []byte, noTx bool, rep *analysis.Report) Migration {
	return Migration{Version: version, Name: gooseName(name), Source: src, NoTransaction: noTx, Report: rep}
}
