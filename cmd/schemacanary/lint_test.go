package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schemacanary/schemacanary/analysis"
)

func sharedCorpus(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "corpus", name)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus %s missing in CI: %v", dir, err)
		}
		t.Skipf("corpus %s absent", dir)
	}
	return dir
}

// TestLintGooseCorpus lints every real-world goose history: each file is
// read; files goose cannot parse are reported with goose's reason and line;
// every syntax error reported in the others is a statement real PostgreSQL
// rejects as a syntax error; forward-only Down sections (ethpandaops/dora)
// are irreversible, while scroll's (which really go down and up again) are
// not.
func TestLintGooseCorpus(t *testing.T) {
	t.Parallel()
	root := sharedCorpus(t, "goose")
	ctx := context.Background()
	type syntaxCase struct{ file, sql string }
	var (
		files, gooseErrs, irreversible int
		syntax                         []syntaxCase
		perProject                     = map[string][2]int{} // files, irreversible
	)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".sql") {
			return err
		}
		files++
		project := filepath.Base(filepath.Dir(path))
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		m, err := loadMigration(path, src)
		if err != nil {
			var me *migration.MigrationError
			if !errors.As(err, &me) || !errors.Is(err, migration.ErrGooseSyntax) || me.Line < 1 {
				t.Errorf("%s: goose parse error without a line: %v", path, err)
			}
			r := parseErrorReport(path, err)
			if f := r.Findings[0]; f.Line != me.Line || !strings.Contains(f.Message, me.Msg) {
				t.Errorf("%s: report %+v does not carry goose's line %d and reason %q", path, f, me.Line, me.Msg)
			}
			gooseErrs++
			t.Logf("goose cannot parse %s:%d: %s", path, me.Line, me.Msg)
			return nil
		}
		if m.Plain {
			t.Errorf("%s: goose file read as plain SQL", path)
		}
		rep, err := analysis.Analyze(ctx, m)
		if err != nil {
			return err
		}
		for _, f := range rep.Findings {
			if f.RuleID == "syntax-error" {
				syntax = append(syntax, syntaxCase{path, statementAt(m, f.Line)})
			}
		}
		c := perProject[project]
		c[0]++
		if rep.Irreversible {
			c[1]++
			irreversible++
		}
		perProject[project] = c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files: %d goose parse errors, %d SQL syntax errors, %d irreversible; per project (files, irreversible): %v",
		files, gooseErrs, len(syntax), irreversible, perProject)
	if files < 250 {
		t.Errorf("read %d files, the corpus has more", files)
	}
	if gooseErrs == 0 {
		t.Error("chainlink has files goose cannot parse; none reported")
	}
	if c := perProject["scroll-tech__scroll"]; c[0] == 0 || c[1] != 0 {
		t.Errorf("scroll (goes down and up cleanly): %d of %d files reported irreversible", c[1], c[0])
	}
	if c := perProject["ethpandaops__dora"]; c[0] == 0 || c[1]*2 < c[0] {
		t.Errorf("dora is forward-only: only %d of %d files reported irreversible", c[1], c[0])
	}
	if len(syntax) == 0 {
		return
	}
	// Every reported syntax error must be one PostgreSQL itself reports.
	_, conn := newTestDB(t)
	for _, s := range syntax {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, s.sql)
		_ = tx.Rollback(ctx)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42601" {
			t.Errorf("%s: we report a syntax error, PostgreSQL says %v for:\n%s", s.file, err, s.sql)
		}
	}
}

// statementAt returns the goose statement covering a file line.
func statementAt(m migration.Migration, line int) string {
	best := ""
	for _, s := range append(append([]migration.Statement(nil), m.Up...), m.Down...) {
		if s.Line <= line && line < s.Line+strings.Count(s.SQL, "\n")+1 {
			best = s.SQL
		}
	}
	return best
}

// TestLintCommand runs the command end to end on goose and plain files in
// every format, checking output shape and exit status.
func TestLintCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("0002_add_token.sql", "-- ---\n-- risk: 3\n-- ---\n-- +goose Up\nALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();\n-- +goose Down\nALTER TABLE orders DROP COLUMN token;\n")
	safe := write("0003_note.sql", "-- +goose Up\nALTER TABLE orders ADD COLUMN note text;\n-- +goose Down\nALTER TABLE orders DROP COLUMN note;\n")
	plain := write("plain.sql", "SET lock_timeout = '1s';\nSET statement_timeout = '5s';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c);\n")
	broken := write("0004_broken.sql", "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n")
	cases := []struct {
		name     string
		args     []string
		exit     int
		contains []string
	}{
		{"text error", []string{"lint", bad}, 1, []string{bad + ":5:1: adding-field-with-default: adding token with a volatile DEFAULT"}},
		{"safe goose file", []string{"lint", safe}, 0, []string{"lossy-down"}},
		{"plain file clean", []string{"lint", plain}, 0, nil},
		{"goose syntax", []string{"lint", broken}, 1, []string{broken + ":3:1: goose-syntax: invalid goose migration: missing"}},
		{"github", []string{"lint", "--format", "github", bad}, 1, []string{"::error file=" + bad + ",line=5,col=1,title=adding-field-with-default::"}},
		{"dir", []string{"lint", "--exclude", "adding-field-with-default", dir}, 1, []string{"goose-syntax", "lossy-down"}},
		{"unknown rule", []string{"lint", "--exclude", "nope", bad}, 2, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, code := runCLI(t, tc.args...)
			if code != tc.exit {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.exit, out)
			}
			for _, c := range tc.contains {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q:\n%s", c, out)
				}
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		out, _ := runCLI(t, "lint", "--format", "json", bad, safe)
		var reps []analysis.Report
		if err := json.Unmarshal([]byte(out), &reps); err != nil || len(reps) != 2 {
			t.Fatalf("json: %v, %d reports:\n%s", err, len(reps), out)
		}
		if reps[0].StrongestLock != "AccessExclusiveLock" || len(reps[0].DownDrops) != 1 || reps[0].DownDrops[0].Column != "token" {
			t.Errorf("report: %+v", reps[0])
		}
	})
	t.Run("sarif", func(t *testing.T) {
		t.Parallel()
		out, _ := runCLI(t, "lint", "--format", "sarif", bad)
		var log struct {
			Version string `json:"version"`
			Runs    []struct {
				Tool struct {
					Driver struct {
						Rules []struct{ ID string } `json:"rules"`
					} `json:"driver"`
				} `json:"tool"`
				Results []struct {
					RuleID    string `json:"ruleId"`
					RuleIndex int    `json:"ruleIndex"`
					Level     string `json:"level"`
					Locations []struct {
						PhysicalLocation struct {
							Region struct{ StartLine int } `json:"region"`
						} `json:"physicalLocation"`
					} `json:"locations"`
				} `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal([]byte(out), &log); err != nil {
			t.Fatal(err)
		}
		if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) == 0 {
			t.Fatalf("sarif: %s", out)
		}
		run := log.Runs[0]
		for _, r := range run.Results {
			if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID || r.Locations[0].PhysicalLocation.Region.StartLine < 1 {
				t.Errorf("result %+v does not point at its rule / a line", r)
			}
		}
	})
}

// runCLI runs the root command and returns stdout and the exit status main
// would use.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	return runCLITo(t, &out, &out, args...)
}

// runCLIStdout runs the CLI and returns what it wrote to stdout alone (logs
// and errors go to stderr, which the test log shows).
func runCLIStdout(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errs bytes.Buffer
	s, code := runCLITo(t, &out, &errs, args...)
	if errs.Len() > 0 {
		t.Logf("stderr of %v:\n%s", args, errs.String())
	}
	return s, code
}

func runCLITo(t *testing.T, out, errs *bytes.Buffer, args ...string) (string, int) {
	t.Helper()
	root := newRootCmd()
	root.SetOut(out)
	root.SetErr(errs)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.code
	}
	return out.String() + err.Error(), 2
}
