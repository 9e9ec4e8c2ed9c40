package analysis

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// corpusDir returns a folder of the shared corpus, skipping the test when
// it is absent (unless CI=true, where it must be there).
func corpusDir(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "corpus", name)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus %s missing in CI: %v", dir, err)
		}
		t.Skipf("corpus %s absent", dir)
	}
	return dir
}

type manifestRow struct {
	file, label, rule string
	flags             []string
}

func readManifest(t testing.TB, dir string) []manifestRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []manifestRow
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		if first {
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 5 {
			continue
		}
		rows = append(rows, manifestRow{file: c[0], label: c[1], rule: c[2], flags: strings.Fields(c[4])})
	}
	return rows
}

// squawkOptions maps Squawk CLI flags onto Analyze options.
func squawkOptions(t testing.TB, flags []string) []Option {
	var opts []Option
	for _, f := range flags {
		switch {
		case f == "--assume-in-transaction":
			opts = append(opts, WithAssumeInTransaction(true))
		case strings.HasPrefix(f, "--pg-version="):
			v, err := strconv.ParseFloat(strings.TrimPrefix(f, "--pg-version="), 64)
			if err != nil {
				t.Fatalf("flag %s: %v", f, err)
			}
			opts = append(opts, WithPostgresVersion(int(v)))
		case strings.HasPrefix(f, "--include="):
			opts = append(opts, WithEnabledRules(strings.Split(strings.TrimPrefix(f, "--include="), ",")...))
		default:
			t.Fatalf("unknown squawk flag %s", f)
		}
	}
	return opts
}

// plainMigration is a plain SQL file as the lint command reads it.
func plainMigration(path string, src []byte) migration.Migration {
	return migration.Migration{Path: path, Plain: true, Source: src, Sections: migration.Sections{Up: []migration.Statement{{SQL: string(src), Line: 1}}}}
}

func firedRules(r *Report) map[string]bool {
	out := map[string]bool{}
	for _, f := range r.Findings {
		out[f.RuleID] = true
	}
	return out
}

type ruleScore struct {
	bad, hit, good, fp, squawkHit, invalid int
}

// TestSquawkCorpus lints every file of Squawk's labeled examples: each
// bad file must fire its folder's rule whenever Squawk's does, and no good
// file may fire its folder's rule. The per-rule table is kept in
// testdata/squawk_recall.md (copied into docs/BENCHMARKS.md; -update).
func TestSquawkCorpus(t *testing.T) {
	t.Parallel()
	dir := corpusDir(t, "squawk")
	squawk := readSquawkResults(t, dir)
	scores := map[string]*ruleScore{}
	for _, row := range readManifest(t, dir) {
		src, err := os.ReadFile(filepath.Join(dir, row.file))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Analyze(context.Background(), plainMigration(row.file, src), squawkOptions(t, row.flags)...)
		if err != nil {
			t.Fatalf("%s: %v", row.file, err)
		}
		fired := firedRules(rep)
		sc := scores[row.rule]
		if sc == nil {
			sc = &ruleScore{}
			scores[row.rule] = sc
		}
		switch row.label {
		case "bad":
			sc.bad++
			if squawk[row.file][row.rule] {
				sc.squawkHit++
			}
			switch {
			case fired[row.rule]:
				sc.hit++
			case fired["syntax-error"]:
				// Not valid PostgreSQL (Squawk's parser is more lenient):
				// PostgreSQL would reject the file, and so do we.
				sc.invalid++
				t.Logf("%s: not valid PostgreSQL, reported as syntax-error", row.file)
			case squawk[row.file][row.rule]:
				t.Errorf("%s: rule %s did not fire (Squawk's does); findings: %v", row.file, row.rule, rep.Findings)
			}
		case "good":
			sc.good++
			if fired[row.rule] {
				sc.fp++
				t.Errorf("%s: good file fires %s: %v", row.file, row.rule, rep.Findings)
			}
		}
	}
	var b strings.Builder
	b.WriteString("| rule | bad files | recall (schemacanary) | recall (Squawk 2.66.0) | good files | false positives |\n|---|---|---|---|---|---|\n")
	ids := make([]string, 0, len(scores))
	for id := range scores {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var tb, th, ts, tg, tf int
	for _, id := range ids {
		s := scores[id]
		note := ""
		if s.invalid > 0 {
			note = fmt.Sprintf(" (+%d invalid SQL → syntax-error)", s.invalid)
		}
		fmt.Fprintf(&b, "| %s | %d | %d/%d%s | %d/%d | %d | %d |\n", id, s.bad, s.hit, s.bad, note, s.squawkHit, s.bad, s.good, s.fp)
		tb, th, ts, tg, tf = tb+s.bad, th+s.hit, ts+s.squawkHit, tg+s.good, tf+s.fp
	}
	fmt.Fprintf(&b, "| **all** | %d | %d/%d | %d/%d | %d | %d |\n", tb, th, tb, ts, tb, tg, tf)
	t.Logf("\n%s", b.String())
	golden := filepath.Join("testdata", "squawk_recall.md")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want, err := os.ReadFile(golden); err != nil || string(want) != b.String() {
		t.Errorf("%s is stale (recorded in docs/BENCHMARKS.md; run with -update): %v", golden, err)
	}
}

func readSquawkResults(t testing.TB, dir string) map[string]map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "squawk_results.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if i == 0 {
			continue
		}
		c := strings.Split(line, "\t")
		m := map[string]bool{}
		if len(c) >= 3 {
			for _, r := range strings.Split(c[2], ",") {
				m[r] = true
			}
		}
		out[c[0]] = m
	}
	return out
}

// BenchmarkAnalyzeSquawkCorpus measures in-process analysis of all 280
// Squawk example files (one op = the whole corpus).
func BenchmarkAnalyzeSquawkCorpus(b *testing.B) {
	dir := corpusDir(b, "squawk")
	rows := readManifest(b, dir)
	ms := make([]migration.Migration, len(rows))
	for i, row := range rows {
		src, err := os.ReadFile(filepath.Join(dir, row.file))
		if err != nil {
			b.Fatal(err)
		}
		ms[i] = plainMigration(row.file, src)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, m := range ms {
			if _, err := Analyze(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(ms)*b.N)/b.Elapsed().Seconds(), "files/s")
}
