package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/schemacanary/schemacanary/reconciler/notify"
)

// registeredMetrics reads the metric names the daemon registers from the
// source of reconciler and reconciler/notify (their collectors are
// unexported, and vectors without children do not show in a Gather).
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	var files []string
	for _, dir := range []string{"reconciler", filepath.Join("reconciler", "notify")} {
		fs, err := filepath.Glob(filepath.Join("..", dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	re := regexp.MustCompile(`Name:\s*"(schemacanary_[a-z0-9_]+)"`)
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	if len(names) < 5 {
		t.Fatalf("found only %d metric names in reconciler/*.go", len(names))
	}
	return names
}

var metricRef = regexp.MustCompile(`\bschemacanary_[a-z0-9_]+`)

// checkExprMetrics fails for every schemacanary_* series an expression uses
// that the daemon does not export.
func checkExprMetrics(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	for _, n := range metricRef.FindAllString(expr, -1) {
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if known[strings.TrimSuffix(n, suf)] {
				base = strings.TrimSuffix(n, suf)
			}
		}
		if !known[base] {
			t.Errorf("%s uses %s, which reconciler does not export", where, n)
		}
	}
}

func TestAlertRulesUseExportedMetrics(t *testing.T) {
	t.Parallel()
	known := registeredMetrics(t)
	b, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			checkExprMetrics(t, "alert "+r.Alert, r.Expr, known)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a severity, a summary and a description", r.Alert)
			}
		}
	}
	// The four: rollback happened, change stuck, no leader, poll failing.
	for _, a := range []string{"SchemacanaryRollback", "SchemacanaryChangeStuck", "SchemacanaryNoLeader", "SchemacanaryPollFailing",
		"SchemacanaryAlertsUndelivered"} {
		if !alerts[a] {
			t.Errorf("no alert %s", a)
		}
	}
	// Every event the webhooks send has its rule.
	byKind := map[notify.Kind]string{
		notify.KindAwaitingApproval: "SchemacanaryApprovalRequested",
		notify.KindCanaryStarted:    "SchemacanaryCanaryStarted",
		notify.KindInconclusive:     "SchemacanaryChangeInconclusive",
		notify.KindWavePromoted:     "SchemacanaryWavePromoted",
		notify.KindRolledBack:       "SchemacanaryRollback",
		notify.KindFailed:           "SchemacanaryChangeFailed",
		notify.KindDrift:            "SchemacanaryDrift",
		notify.KindWatchRegression:  "SchemacanaryWatchRegression",
		notify.KindDone:             "SchemacanaryChangeDone",
	}
	for _, k := range notify.AllKinds() {
		if a, ok := byKind[k]; !ok || !alerts[a] {
			t.Errorf("event %s: no alert rule (want %q)", k, a)
		}
	}
	// Every alert is exercised by alerts_test.yml.
	tb, err := os.ReadFile(filepath.Join("prometheus", "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for a := range alerts {
		if !regexp.MustCompile(`alertname: ` + a + `\b`).Match(tb) {
			t.Errorf("alert %s is not tested in alerts_test.yml", a)
		}
	}
}

func TestPromtoolChecksAndUnitTestsRules(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool missing: apt-get install prometheus")
		}
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	known := registeredMetrics(t)
	b, err := os.ReadFile(filepath.Join("grafana", "schemacanary-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Type    string `json:"type"`
			GridPos struct {
				X, Y, W, H int
			} `json:"gridPos"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkExprMetrics(t, "panel "+p.Title, tg.Expr, known)
			for _, n := range metricRef.FindAllString(tg.Expr, -1) {
				used[n] = true
			}
		}
	}
	if len(used) < 6 {
		names := make([]string, 0, len(used))
		for n := range used {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Errorf("the dashboard shows only %v", names)
	}
}
