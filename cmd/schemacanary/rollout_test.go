package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// TestRolloutCommand runs `schemacanary rollout` on two real databases:
// --dry-run changes nothing, a harmful change (dropping the index a probe
// needs) exits 3 and leaves both databases as they were, a safe change
// exits 0 and reaches both.
func TestRolloutCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	var fleet strings.Builder
	var dsns []string
	for i, name := range []string{"c1", "m1"} {
		dsn, _ := newTestDB(t,
			"CREATE TABLE items (id bigserial PRIMARY KEY, v int NOT NULL, note text)",
			"INSERT INTO items (v) SELECT g FROM generate_series(1, 200000) g",
			"CREATE INDEX items_v_idx ON items (v)", "ANALYZE items")
		dsns = append(dsns, dsn)
		f := filepath.Join(dir, name+".dsn")
		if err := os.WriteFile(f, []byte(dsn+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		group := "main"
		if i == 0 {
			group = "canary"
		}
		fmt.Fprintf(&fleet, "    - {name: %s, dsn_file: %s, group: %s}\n", name, f, group)
	}
	cfg := filepath.Join(dir, "schemacanary.yaml")
	writeFile(t, cfg, `repo: {url: "file:///nonexistent"}
control: {dsn_env: UNUSED_CONTROL_DSN}
fleet:
  instances:
`+fleet.String()+`  waves: [canary, 100%]
canary:
  interval: 200ms
  baseline: 2s
  bake: 2s
  kpis:
    pgstat: {disabled: true}
    probes:
      - {name: by_v, sql: "SELECT id FROM items WHERE v = 4242", rate: 25}
`)
	harmful := filepath.Join(dir, "0007_drop_v_idx.sql")
	writeFile(t, harmful, "-- ---\n-- risk: 5\n-- ---\n-- +goose Up\nDROP INDEX items_v_idx;\n-- +goose Down\nCREATE INDEX items_v_idx ON items (v);\n")
	safe := filepath.Join(dir, "0008_add_tag.sql")
	writeFile(t, safe, "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nALTER TABLE items ADD COLUMN tag text;\n-- +goose Down\nALTER TABLE items DROP COLUMN tag;\n")

	run := func(args ...string) (string, int) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.ExecuteContext(ctx)
		code := 0
		var ee *exitError
		switch {
		case errors.As(err, &ee):
			code = ee.code
		case err != nil:
			t.Logf("error: %v", err)
			code = 1
		}
		if testing.Verbose() {
			t.Logf("schemacanary %s → exit %d\n%s", strings.Join(args, " "), code, out.String())
		}
		return out.String(), code
	}

	out, code := run("rollout", safe, "-c", cfg, "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run: nothing changed") || !strings.Contains(out, "archive: public.items.tag") ||
		!strings.Contains(out, "lock_timeout 100ms") || !strings.Contains(out, "control: m1") {
		t.Fatalf("dry run (exit %d):\n%s", code, out)
	}
	for _, dsn := range dsns {
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_class WHERE relname = 'goose_db_version'"); n != 0 {
			t.Fatal("dry run created goose's table")
		}
	}

	out, code = run("rollout", harmful, "-c", cfg)
	if code != statusFindings || !strings.Contains(out, "ROLLED_BACK") || !strings.Contains(out, "latency:by_v vs") || !strings.Contains(out, " p=") {
		t.Fatalf("harmful change (exit %d):\n%s", code, out)
	}
	for _, dsn := range dsns {
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_idx'"); n != 1 {
			t.Fatalf("index missing after rollback:\n%s", out)
		}
	}

	out, code = run("rollout", safe, "-c", cfg)
	if code != 0 || !strings.Contains(out, "PROMOTED") {
		t.Fatalf("safe change (exit %d):\n%s", code, out)
	}
	for _, dsn := range dsns {
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id = 8"); n != 1 {
			t.Fatalf("safe change missing somewhere:\n%s", out)
		}
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRolloutDryRunOverTargetFiles plans a rollout over a fleet read from
// a glob of target files: every target is listed in the waves and its goose
// table read; a bad target file is an error naming the file and line.
func TestRolloutDryRunOverTargetFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets")
	if err := os.Mkdir(targets, 0o700); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"t1", "t2", "t3"} {
		dsn, _ := newTestDB(t, "CREATE TABLE items (id bigserial PRIMARY KEY, v int NOT NULL)")
		group := "main"
		if i == 0 {
			group = "canary"
		}
		writeFile(t, filepath.Join(targets, name+".yaml"), fmt.Sprintf("name: %s\ndsn: %s\ngroup: %s\n", name, dsn, group))
	}
	cfg := filepath.Join(dir, "schemacanary.yaml")
	writeFile(t, cfg, `repo: {url: "file:///nonexistent"}
control: {dsn_env: UNUSED_CONTROL_DSN}
fleet:
  files: `+filepath.Join(targets, "*.yaml")+`
  waves: [canary, 100%]
`)
	safe := filepath.Join(dir, "0008_add_tag.sql")
	writeFile(t, safe, "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nALTER TABLE items ADD COLUMN tag text;\n-- +goose Down\nALTER TABLE items DROP COLUMN tag;\n")
	dryRun := func() (string, error) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{"rollout", safe, "-c", cfg, "--dry-run"})
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	out, err := dryRun()
	if err != nil || !strings.Contains(out, "0 canary   1 instance(s), 10 at a time: t1") || !strings.Contains(out, "1 100%     2 instance(s)") {
		t.Fatalf("dry run over target files (%v):\n%s", err, out)
	}
	for _, n := range []string{"t1", "t2", "t3"} {
		if !strings.Contains(out, fmt.Sprintf("  %-20s does not hold it (from %s:1)", n, filepath.Join(targets, n+".yaml"))) {
			t.Errorf("%s's goose table not read:\n%s", n, out)
		}
	}
	writeFile(t, filepath.Join(targets, "t4.yaml"), "name: t4\ngroup: main\n")
	if _, err := dryRun(); err == nil || !strings.Contains(err.Error(), "t4.yaml:1: t4: exactly one of dsn, dsn_env or dsn_file") {
		t.Fatalf("bad target file: %v", err)
	}
}
