package demo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// TestDemoScenario runs `schemacanary demo` end to end: five real clusters,
// a Git repository, the daemon, the three changes. It takes minutes, so it
// runs with the scenarios (make scenarios).
func TestDemoScenario(t *testing.T) {
	if os.Getenv("SCHEMACANARY_SCENARIOS") != "1" {
		t.Skip("a scenario: SCHEMACANARY_SCENARIOS=1 (make scenarios)")
	}
	if _, err := pgtest.BinDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var out bytes.Buffer
	// The fleet `make demo` runs: at a smaller scale the risky change's
	// table is smaller, and its confidence sits at the threshold.
	sum, err := Run(ctx, Options{Out: &out, Scale: DefaultScale})
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	// The risky change waits for an approval; once approved, its canary
	// decides (the rewrite can make the hot query slower while the cache
	// warms, and then it is rolled back).
	want := map[string][]string{"safe": {"done"}, "harmful": {"rolled_back"}, "risky": {"done after approval", "rolled_back after approval"}}
	if len(sum.Outcomes) != 3 {
		t.Fatalf("%d outcomes, want 3", len(sum.Outcomes))
	}
	wantVersion := int64(15)
	for _, o := range sum.Outcomes {
		if !slices.Contains(want[o.Kind], o.State) {
			t.Errorf("%s change %s ended %s, want one of %v", o.Kind, o.File, o.State, want[o.Kind])
		}
		if o.Kind == "risky" && o.State == "done after approval" {
			wantVersion = 17
		}
	}
	for name, v := range sum.Versions {
		if v != wantVersion {
			t.Errorf("%s at goose version %d, want %d", name, v, wantVersion)
		}
		if sum.Orders[name] != sum.Expected[name] {
			t.Errorf("%s: %d orders, want %d", name, sum.Orders[name], sum.Expected[name])
		}
	}
	if sum.Alerts == 0 || sum.AlertsRejected != 0 {
		t.Errorf("alert webhook: %d verified, %d rejected deliveries; want some, none rejected", sum.Alerts, sum.AlertsRejected)
	}
	if sum.RevertBranch != "schemacanary/revert-16" {
		t.Errorf("revert branch %q", sum.RevertBranch)
	}
	for _, s := range []string{"latency:my_orders", "fail", "schemacanary approve 17", "git --git-dir", "log schemacanary-audit",
		"alert webhook received rolled_back, signature verified", "judge wave2 pass"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the timeline lacks %q", s)
		}
	}
	checkExcerptShape(t, readmeExcerpt(t), out.String())
	if _, err := os.Stat(sum.RepoDir); !os.IsNotExist(err) {
		t.Errorf("the demo left %s behind", sum.RepoDir)
	}
}

// TestDemoWithoutPostgres checks the one clear line when PostgreSQL is missing.
func TestDemoWithoutPostgres(t *testing.T) {
	t.Setenv("PG_BINDIR", "")
	t.Setenv("PATH", t.TempDir())
	if _, err := pgtest.BinDir(); err == nil {
		t.Skip("PostgreSQL found outside PATH (/usr/lib/postgresql); cannot hide it")
	}
	_, err := Run(context.Background(), Options{Out: &bytes.Buffer{}})
	if !errors.Is(err, ErrNoPostgres) {
		t.Fatalf("err = %v, want ErrNoPostgres", err)
	}
}
