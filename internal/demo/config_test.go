package demo

import (
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/internal/app"
)

func TestDemoConfigLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fleet := []Instance{{Name: "canary-1", Group: "canary", DSN: "postgres://x@127.0.0.1:1/shop"}, {Name: "prod-1", Group: "main", DSN: "postgres://x@127.0.0.1:2/shop"}}
	if err := writeControlDSN(dir, "postgres://x@127.0.0.1:3/schemacanary"); err != nil {
		t.Fatal(err)
	}
	p, err := writeConfig(dir, configData{RepoURL: "file:///tmp/nowhere.git", Fleet: fleet, T: DefaultTiming, Threshold: 0.7,
		AlertURL: "http://127.0.0.1:4/alerts"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(p)
	if err != nil {
		t.Fatalf("the demo's config does not load: %v", err)
	}
	if cfg.Canary.Bake != DefaultTiming.Bake || cfg.Prediction.Threshold != 0.7 || len(cfg.Fleet.Instances) != 2 {
		t.Errorf("config = bake %v, threshold %v, %d instances", cfg.Canary.Bake, cfg.Prediction.Threshold, len(cfg.Fleet.Instances))
	}
	if len(cfg.Alerts.Webhooks) != 1 || cfg.Alerts.Webhooks[0].URL != "http://127.0.0.1:4/alerts" {
		t.Errorf("alerts %+v: the demo posts to its own receiver", cfg.Alerts.Webhooks)
	}
	if cfg.Forge.Kind != app.ForgeLocal || !strings.HasPrefix(cfg.HTTP.Listen, "127.0.0.1:") {
		t.Errorf("forge %q, listen %q: the demo uses the local forge on loopback", cfg.Forge.Kind, cfg.HTTP.Listen)
	}
	for _, class := range []string{hotQuery, "product", insertQuery} {
		if _, ok := cfg.Canary.KPIs.Pgstat.Classes[class]; !ok {
			t.Errorf("no pg_stat_statements class for the load's %s statements", class)
		}
	}
}
