package analysis

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// largeMigration builds a goose-style migration of n Up statements (and n
// Down statements), the shape of a big generated file: a few tables, then
// mostly data (INSERT) with schema changes, indexes and ignore comments
// mixed in, so every rule family, findings and the suppression lookup all
// run. Source holds the whole file, as the daemon passes it.
func largeMigration(n int) migration.Migration {
	var src strings.Builder
	src.WriteString("-- ---\n-- risk: 3\n-- ---\n-- +goose Up\n")
	line := 5
	var up, down []migration.Statement
	addUp := func(sql string) {
		up = append(up, migration.Statement{SQL: sql, Line: line})
		src.WriteString(sql)
		src.WriteByte('\n')
		line += strings.Count(sql, "\n") + 1
	}
	tables := max(n/1000, 1)
	for t := 0; t < tables && len(up) < n; t++ {
		addUp(fmt.Sprintf("CREATE TABLE t%d (id bigint PRIMARY KEY, note text);", t))
	}
	for i := len(up); i < n; i++ {
		t := i % tables
		switch i % 20 {
		case 0:
			addUp(fmt.Sprintf("ALTER TABLE t%d ADD COLUMN c%d integer NOT NULL DEFAULT 0;", t, i))
		case 1:
			src.WriteString("-- schemacanary:ignore require-concurrent-index-creation generated index\n")
			line++
			addUp(fmt.Sprintf("CREATE INDEX i%d ON t%d (id);", i, t))
		case 2:
			addUp(fmt.Sprintf("UPDATE t%d SET note = 'n%d' WHERE id = %d;", t, i, i))
		default:
			addUp(fmt.Sprintf("INSERT INTO t%d (id, note) VALUES (%d, 'row %d');", t, i, i))
		}
	}
	src.WriteString("-- +goose Down\n")
	line++
	for t := tables - 1; t >= 0; t-- {
		sql := fmt.Sprintf("DROP TABLE t%d;", t)
		down = append(down, migration.Statement{SQL: sql, Line: line})
		src.WriteString(sql)
		src.WriteByte('\n')
		line++
	}
	return migration.Migration{Path: "migrations/00001_big.sql", Version: 1, Source: []byte(src.String()),
		Sections:    migration.Sections{Up: up, Down: down, HasDown: true},
		FrontMatter: migration.FrontMatter{Risk: 3, AllowDataLoss: true}}
}

// BenchmarkAnalyzeStatements measures Analyze plus Features on generated
// files of n statements; ns/stmt must stay flat as n grows (linear time).
// docs/BENCHMARKS.md records the figures.
func BenchmarkAnalyzeStatements(b *testing.B) {
	for _, n := range []int{1000, 4000, 16000, 64000, 100000} {
		m := largeMigration(n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				rep, err := Analyze(ctx, m)
				if err != nil {
					b.Fatal(err)
				}
				_ = rep.Features()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/stmt")
		})
	}
}
