package app

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/schemacanary/schemacanary/rollout"
)

// TestCommanderTargetsFollowTheResolvedFleet: exclude and include may name
// a target of fleet.files (or the inventory), not only a static instance;
// the CLI's Commander resolves the fleet for the command.
func TestCommanderTargetsFollowTheResolvedFleet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "t1.yaml"), "name: tenant-1\ndsn: postgres://t1\n")
	cfg := &Config{Fleet: rollout.FleetConfig{
		Instances: []rollout.InstanceConfig{{Name: "static-1", DSNFile: filepath.Join(dir, "s1.dsn")}},
		Files:     filepath.Join(dir, "*.yaml"),
		Waves:     []rollout.WaveConfig{{Select: "100%"}},
	}}
	writeTestFile(t, filepath.Join(dir, "s1.dsn"), "postgres://s1\n")
	c := NewCommander(nil, cfg)
	got := c.targets(context.Background())
	slices.Sort(got)
	if fmt.Sprint(got) != "[static-1 tenant-1]" {
		t.Fatalf("targets %v", got)
	}
	// A fleet that cannot be resolved leaves the static names.
	writeTestFile(t, filepath.Join(dir, "bad.yaml"), "name: x\n")
	c = NewCommander(nil, cfg)
	if got := c.targets(context.Background()); fmt.Sprint(got) != "[static-1]" {
		t.Fatalf("targets with a broken fleet %v", got)
	}
}
