package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/internal/app"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler/store"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
)

// TestLintAndPredictAgreeOnCorpus runs `lint` and `predict` over every file
// of ../shared/corpus (Squawk's examples and real goose histories): every
// finding of the class "fails" that lint reports is a certain failure for
// predict (confidence <= 0.05, the finding among the gate's), and predict
// fails nothing lint does not report.
func TestLintAndPredictAgreeOnCorpus(t *testing.T) {
	t.Parallel()
	for _, corpus := range []string{"squawk", "goose"} {
		t.Run(corpus, func(t *testing.T) {
			t.Parallel()
			dir := sharedCorpus(t, corpus)
			out, code := runCLI(t, "lint", "--format", "json", dir)
			if code > 1 {
				t.Fatalf("lint exit %d: %s", code, out)
			}
			var reports []analysis.Report
			if err := json.Unmarshal([]byte(out), &reports); err != nil {
				t.Fatalf("lint json: %v", err)
			}
			out, code = runCLI(t, "predict", "--format", "json", dir)
			if code != 0 {
				t.Fatalf("predict exit %d: %s", code, out)
			}
			var preds []assess.Assessment
			if err := json.Unmarshal([]byte(out), &preds); err != nil {
				t.Fatalf("predict json: %v", err)
			}
			if len(preds) != len(reports) || len(reports) < 50 {
				t.Fatalf("lint reported %d files, predict %d", len(reports), len(preds))
			}
			byPath := map[string]*assess.Assessment{}
			for i := range preds {
				byPath[preds[i].Path] = &preds[i]
			}
			failing := 0
			for _, r := range reports {
				a := byPath[r.Path]
				if a == nil {
					t.Errorf("%s: no prediction", r.Path)
					continue
				}
				want := map[string]bool{}
				for _, f := range r.Findings {
					if analysis.ClassOf(f.RuleID) == analysis.ClassFails {
						want[fmt.Sprintf("%s:%d", f.RuleID, f.Line)] = true
					}
				}
				got := map[string]bool{}
				for _, f := range a.Gate.Fails {
					got[fmt.Sprintf("%s:%d", f.RuleID, f.Line)] = true
				}
				if !reflect.DeepEqual(want, got) {
					t.Errorf("%s: lint's certain failures %v, predict's %v", r.Path, want, got)
				}
				if len(want) > 0 {
					failing++
					if a.Prediction.Confidence > assess.GateCap || a.Prediction.Decision != model.DecisionNeedsApproval {
						t.Errorf("%s: certain failure %v scored %.3f (%s)", r.Path, want, a.Prediction.Confidence, a.Prediction.Decision)
					}
					if !strings.HasPrefix(a.Prediction.Reasons[0].Feature, "gate:") {
						t.Errorf("%s: first reason %+v is not the gate", r.Path, a.Prediction.Reasons[0])
					}
				}
			}
			t.Logf("%s: %d files, %d certain failures, all at confidence <= %.2f", corpus, len(reports), failing, assess.GateCap)
			if failing == 0 {
				t.Error("no certain failure in the corpus: the test compares nothing")
			}
		})
	}
}

// TestPredictDSNMatchesDaemon assesses one file against one database twice:
// with `predict --dsn` and with the assessor the daemon builds from its
// config (app.NewAssessor, on an empty control store), given the
// input the daemon's predict step gives it. Features, gate and confidence
// are identical.
func TestPredictDSNMatchesDaemon(t *testing.T) { // not parallel: it sets environment variables
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The setup session stays open; its 20,000 inserts would reach the
	// statistics whenever it next flushes (up to 10 s later), inside one of
	// the two write-rate samples. Flush them now.
	target, _ := newTestDB(t, `CREATE TABLE accounts (id bigint PRIMARY KEY, email text, plan text);
		INSERT INTO accounts SELECT g, 'u' || g || '@x', 'free' FROM generate_series(1, 20000) g; ANALYZE accounts`,
		"SELECT pg_stat_force_next_flush()", "SELECT 1")
	dir := t.TempDir()
	file := filepath.Join(dir, "00007_accounts.sql")
	src := "-- ---\n-- risk: 4\n-- ---\n-- +goose Up\nALTER TABLE accounts ADD COLUMN note text;\nCREATE INDEX accounts_plan_idx ON accounts (plan);\nALTER TABLE accounts ALTER COLUMN email SET NOT NULL;\n-- +goose Down\nDROP INDEX accounts_plan_idx;\nALTER TABLE accounts DROP COLUMN note;\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "calibration.json")
	out, code := runCLIStdout(t, "predict", "--format", "json", "--dsn", target, "--calibration-cache", cache, file)
	if code != 0 {
		t.Fatalf("predict exit %d: %s", code, out)
	}
	var cli []assess.Assessment
	if err := json.Unmarshal([]byte(out), &cli); err != nil || len(cli) != 1 {
		t.Fatalf("predict json: %v (%d)", err, len(cli))
	}
	// The text output says what was measured: nothing "not measured" with
	// a live database, and the assumption spelled out without one.
	text, code := runCLI(t, "predict", "--dsn", target, "--calibration-cache", cache, file)
	if code != 0 || strings.Contains(text, "not measured") || strings.Contains(text, "no live database") {
		t.Errorf("predict --dsn (exit %d) claims something was not measured:\n%s", code, text)
	}
	offline, _ := runCLI(t, "predict", file)
	if !strings.Contains(offline, "no live database") {
		t.Errorf("predict without --dsn does not say nothing was measured:\n%s", offline)
	}

	t.Setenv("SCHEMACANARY_TEST_TARGET", target)
	cfg, err := app.ParseConfig([]byte(`
repo: {url: /nonexistent}
control: {dsn_env: SCHEMACANARY_TEST_TARGET}
fleet:
  instances: [{name: canary, dsn_env: SCHEMACANARY_TEST_TARGET}]
  waves: [100%]
`))
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := cfg.Fleet.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	control, _ := newTestDB(t)
	st, err := store.Open(ctx, secret.NewSecret(control), &secret.Redactor{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := model.Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	// The daemon's calibration cache lives in the user's cache folder;
	// point it where the CLI's is, so both use one measured throughput.
	t.Setenv("XDG_CACHE_HOME", dir)
	if err := os.MkdirAll(filepath.Join(dir, "schemacanary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(cache, filepath.Join(dir, "schemacanary", "calibration.json")); err != nil {
		t.Fatal(err)
	}
	as, done, err := app.NewAssessor(ctx, cfg, fleet, st, app.NewModels(m), slog.New(slog.DiscardHandler), &secret.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	mig, err := migration.ParseMigration("00007_accounts.sql", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	in := *mig
	in.Path = file
	daemon, err := as.Assess(ctx, assess.Input{Migration: in})
	if err != nil {
		t.Fatal(err)
	}
	c := cli[0]
	if !daemon.Live() || !c.Live() {
		t.Fatalf("live: daemon %v, cli %v", daemon.Live(), c.Live())
	}
	for name, v := range c.Features {
		if d, ok := daemon.Features[name]; !ok || math.Abs(d-v) > 1e-9 {
			t.Errorf("feature %s: cli %v, daemon %v", name, v, daemon.Features[name])
		}
	}
	if len(c.Features) != len(daemon.Features) {
		t.Errorf("cli has %d features, daemon %d", len(c.Features), len(daemon.Features))
	}
	if math.Abs(c.Prediction.Confidence-daemon.Prediction.Confidence) > 1e-12 || c.Prediction.ModelVersion != daemon.Prediction.ModelVersion {
		t.Errorf("confidence: cli %v (%s), daemon %v (%s)", c.Prediction.Confidence, c.Prediction.ModelVersion, daemon.Prediction.Confidence, daemon.Prediction.ModelVersion)
	}
	if !reflect.DeepEqual(c.Gate, daemon.Gate) {
		t.Errorf("gate: cli %+v, daemon %+v", c.Gate, daemon.Gate)
	}
	if c.Report.Live.DryRun != analysis.CheckPassed || len(c.Report.Live.DataChecks) != 1 || c.Report.Live.DataChecks[0].Outcome != analysis.CheckPassed {
		t.Errorf("live checks: %+v", c.Report.Live)
	}
}
