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
	// self applies the rule to the package from alone, not below it.
	self bool
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
	{from: "gitsrc", self: true, forbidden: []string{"gitsrc/audit", "gitsrc/forge"},
		why: "the repository knows nothing of the audit branch or the forges"},
	{from: "gitsrc/audit", forbidden: []string{"gitsrc/forge"},
		why: "the audit branch knows nothing of the forges (the local forge writes through it)"},
	{from: "rollout/judge", forbidden: []string{"rollout", "analysis", "gitsrc", "reconciler", "internal", "cmd"},
		why: "the judge is pure statistics over samples"},
	{from: "rollout/kpi", forbidden: []string{"rollout", "analysis", "gitsrc", "reconciler", "internal/demo", "cmd"}, allowed: []string{"rollout/judge"},
		why: "the KPI sources measure; they know no canary, no wave and no rollback"},
	{from: "reconciler/change", forbidden: []string{"reconciler", "gitsrc", "rollout", "internal", "cmd"}, allowed: []string{"gitsrc/migration", "rollout/judge"},
		why: "the change request and its records are plain values the loop, the store and the pages share"},
	{from: "reconciler/store", forbidden: []string{"reconciler", "gitsrc", "internal/demo", "cmd"}, allowed: []string{"reconciler/change", "reconciler/store", "gitsrc/migration"},
		why: "the control store persists change requests; it knows no loop, no Git and no HTTP"},
	{from: "reconciler/web", forbidden: []string{"reconciler", "gitsrc", "rollout", "internal/demo", "cmd"}, allowed: []string{"reconciler/change", "rollout/judge", "gitsrc/migration"},
		why: "the HTTP surface reads through its ports; it knows no store, no loop and no Git"},
	{from: "reconciler", forbidden: []string{"internal/demo", "internal/app", "cmd"},
		why: "the loop is composed by internal/app, never the other way"},
	{from: "reconciler", self: true, forbidden: []string{"reconciler/store", "reconciler/web"},
		why: "the loop reaches the control store and the HTTP surface through the ports it declares"},
	{from: "internal/app", forbidden: []string{"internal/demo", "cmd"},
		why: "the wiring is used by cmd and the demo, never the other way"},
	{from: "internal/pgtest", forbidden: []string{"analysis", "rollout", "gitsrc", "reconciler", "internal/demo", "internal/loadgen", "cmd"},
		why: "the test clusters are a leaf"},
	{from: "internal/loadgen", forbidden: []string{"analysis", "rollout", "gitsrc", "reconciler", "internal/demo", "internal/pgtest", "cmd"},
		why: "the load generator is a leaf"},
	{from: "internal/secret", forbidden: []string{"analysis", "rollout", "gitsrc", "reconciler", "internal", "cmd"},
		why: "secret resolution and redaction is a leaf the store, the loop's alerts and the wiring share"},
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
			if r, bad := broken(pkg, strings.TrimPrefix(dep, module)); bad {
				t.Errorf("%s depends on %s: %s", pkg, dep, r.why)
			}
		}
	}
	if pkgs < 10 {
		t.Fatalf("go list saw %d packages; is the module path %q right?", pkgs, module)
	}
}

// broken returns the first rule that forbids pkg to depend on dep. A rule
// never forbids a package its own subpackages (unless it governs the
// package alone, self).
func broken(pkg, dep string) (rule, bool) {
	for _, r := range rules {
		if !applies(r, pkg) || under(dep, r.from) && r.from != "" && !r.self {
			continue
		}
		if violates(dep, r) {
			return r, true
		}
	}
	return rule{}, false
}

// applies reports whether rule r governs package pkg.
func applies(r rule, pkg string) bool {
	if r.self {
		return pkg == r.from
	}
	return under(pkg, r.from)
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
		{"rollout/kpi", "rollout", true},
		{"gitsrc", "gitsrc/forge", true},
		{"gitsrc/forge", "gitsrc/audit", false},
		{"gitsrc/audit", "gitsrc/forge", true},
		{"rollout/kpi", "rollout/judge", false},
		{"reconciler/store", "reconciler", true},
		{"reconciler/store", "reconciler/change", false},
		{"reconciler/store", "gitsrc", true},
		{"reconciler/change", "reconciler/store", true},
		{"reconciler", "reconciler/change", false},
		{"internal/secret", "reconciler", true},
		{"reconciler/web", "reconciler/store", true},
		{"reconciler/web", "reconciler/change", false},
		{"reconciler", "reconciler/store", true},
		{"reconciler", "internal/app", true},
		{"internal/app", "reconciler/store", false},
		{"internal/demo", "internal/app", false},
	}
	for _, c := range cases {
		if _, bad := broken(c.pkg, c.dep); bad != c.bad {
			t.Errorf("%s -> %s: violation %v, want %v", c.pkg, c.dep, !c.bad, c.bad)
		}
	}
}
