package comment

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

func analyze(t *testing.T, sql string, rows float64) *analysis.Report {
	t.Helper()
	cat := analysis.StaticCatalog{"public.orders": {Name: "public.orders", Exists: true, Rows: rows, Bytes: int64(rows * 120), WritesPerSec: 50, ScansPerSec: 300}}
	rep, err := analysis.Analyze(context.Background(), migration.Migration{
		Path: "migrations/0042_change.sql", Version: 42, Sections: migration.Sections{HasDown: true, Up: []migration.Statement{{SQL: sql, Line: 7}}, Down: []migration.Statement{{SQL: "SELECT 1", Line: 9}}}, FrontMatter: migration.FrontMatter{Risk: 3},
	}, analysis.WithCatalog(cat))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// trained fits a model on analyzed migrations whose outcome follows a rule
// (blocking work on a big table fails), so the test predicts with a real
// model rather than a made-up prediction.
func trained(t *testing.T) *model.Model {
	t.Helper()
	sqls := []string{
		"CREATE INDEX orders_status_idx ON orders (status)",
		"CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status)",
		"ALTER TABLE orders ADD COLUMN note text",
		"ALTER TABLE orders ALTER COLUMN qty TYPE bigint",
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var ds model.Dataset
	for i, sql := range sqls {
		for _, rows := range []float64{1e3, 1e4, 1e5, 1e6, 2e6} {
			rep := analyze(t, sql, rows)
			f := model.Features(rep.Features())
			blocking := f["index_without_concurrently"] > 0 || f["rewrite"] > 0
			for k := 0; k < 6; k++ {
				safe := !(blocking && rows >= 1e5)
				if rng.Float64() < 0.1 {
					safe = !safe
				}
				ds = append(ds, model.Example{Features: f, Safe: safe, Group: fmt.Sprint(i)})
			}
		}
	}
	m, err := model.Train(context.Background(), ds, model.WithFolds(2), model.WithSource("test"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMarkdownCarriesPredictionReasonsAndLocks(t *testing.T) {
	t.Parallel()
	m := trained(t)
	for _, tc := range []struct {
		sql  string
		rows float64
		lock string
	}{
		{"CREATE INDEX orders_status_idx ON orders (status)", 2e6, "SHARE"},
		{"ALTER TABLE orders ADD COLUMN note text", 1e3, "ACCESS EXCLUSIVE"},
	} {
		rep := analyze(t, tc.sql, tc.rows)
		p, err := m.Predict(model.Features(rep.Features()))
		if err != nil {
			t.Fatal(err)
		}
		md := String([]*assess.Assessment{{Report: rep, Prediction: p}}, Options{})
		want := []string{
			fmt.Sprintf("**Confidence %.0f%%**", 100*p.Confidence),
			"`0042_change.sql`",
			"| 7 | `" + tc.sql + "` | " + tc.lock + " |",
			"model `" + m.Version + "`",
		}
		if p.Decision == model.DecisionProceed {
			want = append(want, "**proceeds**")
		} else {
			want = append(want, "**needs approval**", "/schemacanary approve")
		}
		for _, r := range p.Reasons {
			want = append(want, escape(r.Text))
		}
		for _, w := range want {
			if !strings.Contains(md, w) {
				t.Errorf("%s: markdown lacks %q:\n%s", tc.sql, w, md)
			}
		}
		// Every table row has as many cells as its header.
		cells := 0
		for _, line := range strings.Split(md, "\n") {
			if !strings.HasPrefix(line, "|") {
				cells = 0
				continue
			}
			n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|")
			if cells == 0 {
				cells = n
			} else if n != cells {
				t.Errorf("%s: row %q has %d separators, header %d", tc.sql, line, n, cells)
			}
		}
	}
	// The big blocking index must come out less safe than the small column.
	big, _ := m.Predict(model.Features(analyze(t, "CREATE INDEX orders_status_idx ON orders (status)", 2e6).Features()))
	small, _ := m.Predict(model.Features(analyze(t, "ALTER TABLE orders ADD COLUMN note text", 1e3).Features()))
	if big.Confidence >= small.Confidence {
		t.Errorf("blocking index on 2M rows %.2f >= nullable column on 1k rows %.2f", big.Confidence, small.Confidence)
	}
}
