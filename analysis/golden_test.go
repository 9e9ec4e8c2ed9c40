package analysis

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// gooseSplit is a minimal goose splitter for test inputs (the real one is
// gitsrc.ParseSections, which analysis must not import): Up/Down sections,
// StatementBegin/End blocks, NO TRANSACTION, statements ending with ";" at
// the end of a line.
func gooseSplit(path string, src []byte) migration.Migration {
	m := migration.Migration{Path: path, Source: src}
	var (
		buf   strings.Builder
		start int
		down  bool
		block bool
		began bool
	)
	emit := func() {
		st := migration.Statement{SQL: strings.TrimSpace(buf.String()), Line: start}
		buf.Reset()
		if st.SQL == "" {
			return
		}
		if down {
			m.Down = append(m.Down, st)
		} else {
			m.Up = append(m.Up, st)
		}
	}
	for i, line := range strings.Split(string(src), "\n") {
		trimmed := strings.TrimSpace(line)
		switch trimmed {
		case "-- +goose Up":
			began = true
			continue
		case "-- +goose Down":
			emit()
			down, m.HasDown = true, true
			continue
		case "-- allow_data_loss: true": // front matter (gitsrc parses it for real)
			m.FrontMatter.AllowDataLoss = true
			continue
		case "-- +goose NO TRANSACTION":
			m.NoTransaction = true
			continue
		case "-- +goose StatementBegin":
			block = true
			continue
		case "-- +goose StatementEnd":
			block = false
			emit()
			continue
		}
		if !began || (buf.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "--"))) {
			continue
		}
		if buf.Len() == 0 {
			start = i + 1
		}
		buf.WriteString(line + "\n")
		if !block && strings.HasSuffix(trimmed, ";") {
			emit()
		}
	}
	emit()
	return m
}

// loadTestMigration reads a goose file or, without annotations, plain SQL.
func loadTestMigration(path string, src []byte) migration.Migration {
	if strings.Contains(string(src), "-- +goose Up") {
		return gooseSplit(path, src)
	}
	return plainMigration(path, src)
}

// renderGolden is the golden rendering of a report: findings as lint's
// text format, then what each statement does, then the summary and the
// non-zero features.
func renderGolden(r *Report) string {
	var b strings.Builder
	b.WriteString("# findings\n")
	_ = WriteReports(&b, FormatText, []*Report{r})
	b.WriteString("# statements\n")
	for _, s := range r.Statements {
		fmt.Fprintf(&b, "%s[%d] line %d col %d: %s", s.Section, s.Index, s.Line, s.Column, s.Kind)
		if s.Lock != "" {
			fmt.Fprintf(&b, " lock=%s", s.Lock)
		}
		if len(s.Relations) > 0 {
			fmt.Fprintf(&b, " rel=%s", strings.Join(s.Relations, ","))
		}
		for _, fl := range []struct {
			on   bool
			name string
		}{{s.Rewrite, "rewrite"}, {s.ScanUnderLock, "scan"}, {s.Destructive, "destructive"}, {s.BreaksApp, "breaks-app"},
			{s.NonTransactional, "non-tx"}, {s.IndexWithoutConcurrently, "index-no-concurrently"},
			{s.ConstraintWithoutNotValid, "constraint-no-not-valid"}, {s.InDo, "in-do"}} {
			if fl.on {
				b.WriteString(" " + fl.name)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "# summary\ntables=%s strongest_lock=%s irreversible=%v lossy_down=%v not_inverse=%v\n",
		strings.Join(r.Tables, ","), r.StrongestLock, r.Irreversible, r.LossyDown, r.NotInverse)
	for _, d := range r.DownDrops {
		fmt.Fprintf(&b, "down_drop=%s.%s", d.Schema, d.Table)
		if d.Column != "" {
			b.WriteString("." + d.Column)
		}
		b.WriteString("\n")
	}
	b.WriteString("# features (non-zero)\n")
	f := r.Features()
	names := make([]string, 0, len(f))
	for n, v := range f {
		if v != 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%g\n", n, f[n])
	}
	return b.String()
}

// TestGolden analyzes every testdata/golden/*.sql and compares with its
// .golden file (-update rewrites them). Each input's first line names the
// rules it must fire ("-- expect: rule-a rule-b") so a regenerated golden
// file cannot silently lose a hazard.
func TestGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Analyze(context.Background(), loadTestMigration(filepath.ToSlash(path), src))
			if err != nil {
				t.Fatal(err)
			}
			fired := firedRules(rep)
			first, _, _ := strings.Cut(string(src), "\n")
			if exp, ok := strings.CutPrefix(first, "-- expect:"); ok {
				for _, id := range strings.Fields(exp) {
					if strings.HasPrefix(id, "!") {
						if fired[id[1:]] {
							t.Errorf("rule %s fired, must not", id[1:])
						}
					} else if !fired[id] {
						t.Errorf("rule %s did not fire", id)
					}
				}
			} else {
				t.Errorf("first line must be \"-- expect: rule ...\"")
			}
			got := renderGolden(rep)
			golden := strings.TrimSuffix(path, ".sql") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s (run with -update to accept):\n%s", path, golden, got)
			}
		})
	}
}

// TestRuleExamples runs every rule's documented Bad example (it must fire
// the rule) and Good example (it must not), as goose or plain SQL.
func TestRuleExamples(t *testing.T) {
	t.Parallel()
	for _, r := range Rules() {
		switch {
		case r.ID == "goose-syntax", strings.HasPrefix(r.ID, "verify-"): // lint command / Verify
			continue
		case r.ID == "dry-run-failed", r.ID == "data-check-failed", r.ID == "check-not-run", r.ID == "breaks-workload-queries":
			continue // need a live target: target_test.go
		}
		t.Run(r.ID, func(t *testing.T) {
			t.Parallel()
			opts := []Option{WithEnabledRules(r.ID)}
			if r.ID == "prefer-repack" {
				opts = append(opts, WithPostgresVersion(19))
			}
			for _, ex := range []struct {
				sql  string
				fire bool
			}{{r.Bad, true}, {r.Good, false}} {
				rep, err := Analyze(context.Background(), loadTestMigration(r.ID+".sql", []byte(ex.sql)), opts...)
				if err != nil {
					t.Fatal(err)
				}
				if got := firedRules(rep)[r.ID]; got != ex.fire {
					t.Errorf("example fires=%v, want %v:\n%s\nfindings: %+v", got, ex.fire, ex.sql, rep.Findings)
				}
			}
		})
	}
}
