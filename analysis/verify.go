package analysis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// VerifyResult is what Verify observed on the scratch database.
type VerifyResult struct {
	// Steps are "restore", "up", "down", "up again" with their durations
	// and errors ("" when the step succeeded).
	Steps []VerifyStep `json:"steps"`
	// DownDiff lists schema lines that differ between the schema before Up
	// and after Up+Down ("-" missing after Down, "+" left behind by Up).
	DownDiff []string `json:"down_diff,omitempty"`
	// ReupDiff lists schema lines that differ between the first and the
	// second Up.
	ReupDiff []string `json:"reup_diff,omitempty"`
	// Findings are the hazards found (verify-failed, verify-schema-drift).
	Findings []Finding `json:"findings"`
}

// VerifyStep is one phase of Verify.
type VerifyStep struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration"`
	Error    string        `json:"error,omitempty"`
}

// OK reports whether up, down and up again all succeeded and the schema
// round-tripped.
func (v *VerifyResult) OK() bool { return len(v.Findings) == 0 }

// VerifyOption configures Verify.
type VerifyOption func(*verifyConfig) error

type verifyConfig struct {
	binDir string
}

// WithPgBinDir sets the folder holding pg_dump and psql (default: PATH,
// then the newest /usr/lib/postgresql/*/bin). pg_dump must be at least the
// server's major version.
func WithPgBinDir(dir string) VerifyOption {
	return func(c *verifyConfig) error {
		if _, err := os.Stat(filepath.Join(dir, "pg_dump")); err != nil {
			return fmt.Errorf("WithPgBinDir: %w", err)
		}
		c.binDir = dir
		return nil
	}
}

// ErrVerifyTooling is returned when pg_dump or psql cannot be found or run.
var ErrVerifyTooling = errors.New("verify: pg_dump/psql unavailable")

// Verify proves the Down section on a copy of the target's schema: it
// dumps the schema of dsn (pg_dump --schema-only), restores it into a new
// scratch database on the same server, applies Up, Down and Up again the
// way goose does (one transaction per section unless NoTransaction), and
// compares the schema dumps. The scratch database is dropped afterwards.
// The target itself is only read. The role of dsn needs CREATEDB.
//
// Hazards are returned as findings in the result; an error means the
// verification itself could not run (connection, tooling, scratch DB).
func Verify(ctx context.Context, dsn string, m migration.Migration, opts ...VerifyOption) (*VerifyResult, error) {
	var cfg verifyConfig
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
	}
	if cfg.binDir == "" {
		dir, err := findPgBin()
		if err != nil {
			return nil, err
		}
		cfg.binDir = dir
	}
	dsn, err := libpqDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	res := &VerifyResult{Findings: []Finding{}}
	step := func(name string, fn func() error) bool {
		start := time.Now()
		err := fn()
		st := VerifyStep{Name: name, Duration: time.Since(start)}
		if err != nil {
			st.Error = err.Error()
		}
		res.Steps = append(res.Steps, st)
		return err == nil
	}
	var sc *scratch
	if !step("restore", func() (err error) { sc, err = newScratch(ctx, dsn, cfg.binDir, "verify"); return err }) {
		if errors.Is(ctx.Err(), context.Canceled) {
			return res, ctx.Err()
		}
		return res, fmt.Errorf("verify: %s", res.Steps[0].Error)
	}
	defer sc.Close(ctx)
	scratchDSN := sc.dsn
	before, err := pgDump(ctx, cfg.binDir, scratchDSN)
	if err != nil {
		return res, err
	}
	finding := func(id, format string, args ...any) {
		rule, _ := ruleByID(id)
		res.Findings = append(res.Findings, Finding{RuleID: id, Severity: rule.Severity, Message: fmt.Sprintf(format, args...),
			Fix: rule.Fix, File: m.Path, Line: 1, Column: 1, Statement: -1})
	}
	apply := func(stmts []migration.Statement) error { return applySection(ctx, scratchDSN, stmts, !m.NoTransaction) }
	if !step("up", func() error { return apply(m.Up) }) {
		finding("verify-failed", "Up fails on a copy of the target's schema: %s", res.Steps[len(res.Steps)-1].Error)
		return res, nil
	}
	afterUp, err := pgDump(ctx, cfg.binDir, scratchDSN)
	if err != nil {
		return res, err
	}
	if !step("down", func() error { return apply(m.Down) }) {
		finding("verify-failed", "Down fails after Up on a copy of the target's schema: %s", res.Steps[len(res.Steps)-1].Error)
		return res, nil
	}
	afterDown, err := pgDump(ctx, cfg.binDir, scratchDSN)
	if err != nil {
		return res, err
	}
	if res.DownDiff = schemaDiff(before, afterDown); len(res.DownDiff) > 0 {
		finding("verify-schema-drift", "Up then Down does not restore the schema (%d lines differ): %s", len(res.DownDiff), strings.Join(head(res.DownDiff, 5), " | "))
	}
	if !step("up again", func() error { return apply(m.Up) }) {
		finding("verify-failed", "Up fails again after Down: %s", res.Steps[len(res.Steps)-1].Error)
		return res, nil
	}
	again, err := pgDump(ctx, cfg.binDir, scratchDSN)
	if err != nil {
		return res, err
	}
	if res.ReupDiff = schemaDiff(afterUp, again); len(res.ReupDiff) > 0 {
		finding("verify-schema-drift", "Up after Down gives a different schema than the first Up (%d lines differ): %s", len(res.ReupDiff), strings.Join(head(res.ReupDiff, 5), " | "))
	}
	return res, nil
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// applySection runs statements like goose: in one transaction unless tx
// is false, one statement at a time.
func applySection(ctx context.Context, dsn string, stmts []migration.Statement, tx bool) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect scratch: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if tx {
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			return err
		}
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s.SQL); err != nil {
			return fmt.Errorf("line %d: %w", s.Line, err)
		}
	}
	if tx {
		if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
			return err
		}
	}
	return nil
}

// schemaDiff compares two schema dumps as multisets of meaningful lines
// (comments, SET lines, psql meta-commands and blank lines dropped).
func schemaDiff(a, b string) []string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		sc := bufio.NewScanner(strings.NewReader(s))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l == "" || strings.HasPrefix(l, "--") || strings.HasPrefix(l, `\`) ||
				strings.HasPrefix(l, "SET ") || strings.HasPrefix(l, "SELECT pg_catalog.set_config") {
				continue
			}
			m[l]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	var out []string
	for l, n := range ca {
		if cb[l] < n {
			out = append(out, "- "+l)
		}
	}
	for l, n := range cb {
		if ca[l] < n {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return out
}
