package layout

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const module = "github.com/schemacanary/schemacanary/"

// rule forbids the packages under from (the path itself or below it) to
// depend, directly or through others, on any package under the forbidden
// paths, except those under the allowed ones.
type rule struct {
	from      string
	forbidden []string
	allowed   []string
	why       string
}

// rules are the arrows of docs/architecture.md. analysis, rollout and gitsrc
// never import each other (they may all import the leaf gitsrc/migration);
// nothing below the loop imports it; only the composition roots (cmd and
// internal/demo) see everything.
var rules = []rule{
	{from: "analysis", forbidden: []string{"rollout", "gitsrc", "reconciler", "internal/demo", "cmd"}, allowed: []string{"gitsrc/migration"},
		why: "analysis knows DDL and live context, not Git, the fleet or the loop"},
	{from: "rollout", forbidden: []string{"analysis", "gitsrc", "reconciler", "internal/demo", "cmd"}, allowed: []string{"gitsrc/migration"},
		why: "rollout applies, watches and reverts; it knows no model, no Git and no loop"},
	{from: "gitsrc", forbidden: []string{"analysis", "rollout", "reconciler", "internal/demo", "cmd"},
		why: "gitsrc is the repository, the forges and the audit branch; no Postgres, no models"},
	{from: "gitsrc/migration", forbidden: []string{"gitsrc", "analysis", "rollout", "reconciler", "internal", "cmd"},
		why: "the migration file format is a leaf every package may import"},
	{from: "rollout/judge", forbidden: []string{"rollout", "analysis", "gitsrc", "reconciler", "internal", "cmd"},
		why: "the judge is pure statistics over samples"},
	{from: "reconciler", forbidden: []string{"internal/demo", "cmd"},
		why: "the loop is composed by cmd and the demo, never the other way"},
	{from: "internal/pgtest", forbidden: []string{"analysis", "rollout", "gitsrc", "reconciler", "internal/demo", "internal/loadgen", "cmd"},
		why: "the test clusters are a leaf"},
	{from: "internal/loadgen", forbidden: []string{"analysis", "rollout", "gitsrc", "reconciler", "internal/demo", "internal/pgtest", "cmd"},
		why: "the load generator is a leaf"},
	{from: "", forbidden: []string{"cmd"}, why: "nothing imports a command"},
}

// under reports whether pkg (relative to the module) is p or below it.
func under(pkg, p string) bool {
	return p == "" || pkg == p || strings.HasPrefix(pkg, p+"/")
}

// Every package's dependencies (go list -deps, transitively, tests
// excluded) follow the arrows.
func TestImportArrows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		pkgs++
		for _, dep := range fields[1:] {
			if !strings.HasPrefix(dep, module) {
				continue
			}
			dep = strings.TrimPrefix(dep, module)
			for _, r := range rules {
				if !under(pkg, r.from) || under(dep, r.from) && r.from != "" {
					continue
				}
				if violates(dep, r) {
					t.Errorf("%s depends on %s: %s", pkg, dep, r.why)
				}
			}
		}
	}
	if pkgs < 10 {
		t.Fatalf("go list saw %d packages; is the module path %q right?", pkgs, module)
	}
}

func violates(dep string, r rule) bool {
	for _, a := range r.allowed {
		if under(dep, a) {
			return false
		}
	}
	for _, f := range r.forbidden {
		if under(dep, f) {
			return true
		}
	}
	return false
}

// The checker itself catches a forbidden arrow and lets an allowed one by.
func TestRulesCatchViolations(t *testing.T) {
	cases := []struct {
		pkg, dep string
		bad      bool
	}{
		{"analysis/lab", "rollout", true},
		{"analysis", "gitsrc/migration", false},
		{"gitsrc/forge", "reconciler", true},
		{"reconciler/store", "analysis/model", false},
		{"internal/demo", "cmd/schemacanary", true},
		{"cmd/schemacanary", "reconciler", false},
		{"rollout/judge", "rollout", true},
		{"rollout", "rollout/judge", false},
		{"gitsrc/migration", "gitsrc", true},
		{"gitsrc", "gitsrc/migration", false},
	}
	for _, c := range cases {
		bad := false
		for _, r := range rules {
			if under(c.pkg, r.from) && !(r.from != "" && under(c.dep, r.from)) && violates(c.dep, r) {
				bad = true
			}
		}
		if bad != c.bad {
			t.Errorf("%s -> %s: violation %v, want %v", c.pkg, c.dep, bad, c.bad)
		}
	}
}
