package assess

import (
	"context"
	"fmt"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// The named-case suite holds a model to checks of order and bounds that
// physics and common sense demand. They are not a training set: no model
// is fitted or tuned on them. `make test` runs them on the shipped model,
// and the daemon runs them on every retrained challenger before it may
// replace the champion.

// NamedCase is one check; Check returns what is wrong ("" when it holds).
type NamedCase struct {
	Name  string
	Check func(ctx context.Context, a *Assessor) (string, error)
}

// caseRows and caseRates are the table sizes and traffic the cases run
// against.
var (
	caseRows  = []float64{0, 1e3, 1e5, 1e6, 1e7}
	caseRates = []float64{0, 10, 200, 2000}
)

// CaseTable is a live context for public.orders with rows rows (about 120
// bytes each) and writes and scans per second at rate.
func CaseTable(rows, rate float64) analysis.StaticCatalog {
	return analysis.StaticCatalog{"public.orders": {Name: "public.orders", Exists: true, Rows: rows, Bytes: int64(120 * rows),
		WritesPerSec: rate, ScansPerSec: rate, RewriteBytesPerSec: 50e6, ScanBytesPerSec: 300e6}}
}

// Case describes one migration of a named case.
type Case struct {
	Up   []string
	NoTx bool
	Risk int
	// Catalog is the live context (nil: no live database).
	Catalog analysis.Catalog
	// Refs and IndexScans are the workload figures with a Catalog.
	Refs, IndexScans float64
}

// Confidence assesses c with a (no target, no history) and returns the
// confidence.
func (a *Assessor) caseConfidence(ctx context.Context, c Case) (float64, error) {
	m := migration.Migration{Path: "00001_case.sql", Version: 1, Sections: migration.Sections{HasDown: true, NoTransaction: c.NoTx, Down: []migration.Statement{{SQL: "SELECT 1", Line: 20}}}, FrontMatter: migration.FrontMatter{Risk: c.Risk}}
	for i, s := range c.Up {
		m.Up = append(m.Up, migration.Statement{SQL: s, Line: 2 + i})
	}
	var opts []analysis.Option
	if c.Catalog != nil {
		opts = append(opts, analysis.WithCatalog(c.Catalog))
	}
	rep, err := analysis.Analyze(ctx, m, opts...)
	if err != nil {
		return 0, err
	}
	if c.Catalog != nil {
		rep.Live = &analysis.LiveContext{WorkloadStats: true, WorkloadRefs: c.Refs, DroppedIndexScans: c.IndexScans}
	}
	got, err := a.Predict(ctx, rep)
	if err != nil {
		return 0, err
	}
	return got.Prediction.Confidence, nil
}

// NamedCases returns the suite.
func NamedCases() []NamedCase {
	conf := func(ctx context.Context, a *Assessor, c Case) (float64, error) { return a.caseConfidence(ctx, c) }
	type grid func(rows, rate float64) Case
	atLeast := func(min float64, mk grid, withoutContext *Case) func(context.Context, *Assessor) (string, error) {
		return func(ctx context.Context, a *Assessor) (string, error) {
			for _, rows := range caseRows {
				for _, rate := range caseRates {
					c, err := conf(ctx, a, mk(rows, rate))
					if err != nil || c < min {
						return fmt.Sprintf("%g rows, %g/s: %.3f < %.2f", rows, rate, c, min), err
					}
				}
			}
			if withoutContext != nil {
				if c, err := conf(ctx, a, *withoutContext); err != nil || c < min {
					return fmt.Sprintf("without live context: %.3f < %.2f", c, min), err
				}
			}
			return "", nil
		}
	}
	growing := func(up string) func(context.Context, *Assessor) (string, error) {
		return func(ctx context.Context, a *Assessor) (string, error) {
			for _, rate := range caseRates {
				prev := 2.0
				for _, rows := range caseRows[1:] {
					c, err := conf(ctx, a, Case{Up: []string{up}, Risk: 3, Catalog: CaseTable(rows, rate)})
					if err != nil {
						return "", err
					}
					if c >= prev {
						return fmt.Sprintf("%g rows, %g/s: %.4f, not below %.4f for fewer rows", rows, rate, c, prev), nil
					}
					if rows >= 1e6 && rate > 0 && c >= model.DefaultThreshold {
						return fmt.Sprintf("%g rows under %g writes/s: %.3f proceeds", rows, rate, c), nil
					}
					prev = c
				}
			}
			for _, rows := range caseRows[1:] {
				prev := 2.0
				for _, rate := range caseRates {
					c, err := conf(ctx, a, Case{Up: []string{up}, Risk: 3, Catalog: CaseTable(rows, rate)})
					if err != nil {
						return "", err
					}
					if rate > 0 && c >= prev {
						return fmt.Sprintf("%g rows, %g/s: %.4f, not below %.4f for fewer writes", rows, rate, c, prev), nil
					}
					prev = c
				}
			}
			return "", nil
		}
	}
	nullable := "ALTER TABLE orders ADD COLUMN note text"
	return []NamedCase{
		{"certain failures score at most 0.05", func(ctx context.Context, a *Assessor) (string, error) {
			for _, up := range [][]string{
				{"CREATE INDEX CONCURRENTLY orders_a_idx ON orders (a)"},
				{"ALTER TABLE orders ADD COLUMN"},
				{"BEGIN", "ALTER TABLE orders ADD COLUMN note text", "COMMIT"},
				{"CREATE TABLE t (id int, id int)"},
			} {
				if c, err := conf(ctx, a, Case{Up: up, Risk: 1, Catalog: CaseTable(1e3, 0)}); err != nil || c > GateCap {
					return fmt.Sprintf("%v: %.3f", up, c), err
				}
			}
			return "", nil
		}},
		{"a nullable column without default is >= 0.90 at any size and rate",
			atLeast(0.90, func(rows, rate float64) Case {
				return Case{Up: []string{nullable}, Risk: 2, Catalog: CaseTable(rows, rate)}
			},
				&Case{Up: []string{nullable}, Risk: 2})},
		{"CREATE INDEX CONCURRENTLY outside a transaction is >= 0.80",
			atLeast(model.DefaultThreshold, func(rows, rate float64) Case {
				return Case{Up: []string{"CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_a_idx ON orders (a)"}, NoTx: true, Risk: 2, Catalog: CaseTable(rows, rate)}
			}, nil)},
		{"a blocking CREATE INDEX gets worse as the table and its writes grow", growing("CREATE INDEX orders_a_idx ON orders (a)")},
		{"a rewriting ALTER COLUMN TYPE gets worse as the table and its writes grow", growing("ALTER TABLE orders ALTER COLUMN a TYPE bigint")},
		{"dropping an index the workload scans scores below dropping one it never uses", func(ctx context.Context, a *Assessor) (string, error) {
			drop := []string{"DROP INDEX CONCURRENTLY IF EXISTS orders_a_idx"}
			unused, err := conf(ctx, a, Case{Up: drop, NoTx: true, Risk: 3, Catalog: CaseTable(1e6, 200)})
			if err != nil {
				return "", err
			}
			used, err := conf(ctx, a, Case{Up: drop, NoTx: true, Risk: 3, Catalog: CaseTable(1e6, 200), IndexScans: 5e5})
			if err != nil || used >= unused {
				return fmt.Sprintf("used index %.3f, unused %.3f", used, unused), err
			}
			return "", nil
		}},
		{"adding a statement never raises a file's confidence", func(ctx context.Context, a *Assessor) (string, error) {
			stmts := []string{nullable, "CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz)", "CREATE INDEX orders_a_idx ON orders (a)",
				"ALTER TABLE orders ALTER COLUMN a TYPE bigint", "UPDATE orders SET note = 'x'", "DROP TABLE legacy",
				"CREATE INDEX CONCURRENTLY orders_b_idx ON orders (b)"}
			for _, rows := range []float64{1e3, 1e6} {
				for _, s1 := range stmts {
					c0, err := conf(ctx, a, Case{Up: []string{s1}, Risk: 3, Catalog: CaseTable(rows, 200)})
					if err != nil {
						return "", err
					}
					for _, s2 := range stmts {
						c1, err := conf(ctx, a, Case{Up: []string{s1, s2}, Risk: 3, Catalog: CaseTable(rows, 200)})
						if err != nil || c1 > c0+1e-12 {
							return fmt.Sprintf("%g rows: %q %.4f, then + %q %.4f", rows, s1, c0, s2, c1), err
						}
					}
				}
			}
			return "", nil
		}},
		{"missing live context is never a positive reason", func(ctx context.Context, a *Assessor) (string, error) {
			for _, up := range []string{nullable, "CREATE INDEX orders_a_idx ON orders (a)", "ALTER TABLE orders DROP COLUMN a"} {
				measured, err := conf(ctx, a, Case{Up: []string{up}, Risk: 3, Catalog: CaseTable(1e3, 0)})
				if err != nil {
					return "", err
				}
				unmeasured, err := conf(ctx, a, Case{Up: []string{up}, Risk: 3})
				if err != nil || unmeasured > measured+1e-12 {
					return fmt.Sprintf("%s: %.3f without context, %.3f with a small idle table", up, unmeasured, measured), err
				}
			}
			return "", nil
		}},
	}
}

// CheckNamedCases runs the suite on m and returns the failures, one line
// each ("name: what is wrong").
func CheckNamedCases(ctx context.Context, m *model.Model) ([]string, error) {
	a, err := New(Static{M: m})
	if err != nil {
		return nil, err
	}
	var failed []string
	for _, nc := range NamedCases() {
		why, err := nc.Check(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("named case %q: %w", nc.Name, err)
		}
		if why != "" {
			failed = append(failed, nc.Name+": "+why)
		}
	}
	return failed, nil
}
