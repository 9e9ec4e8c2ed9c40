package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitStatuses runs every command through run, as main does, and checks
// the exit status policy: 0 success, 1 the command's answer is "no", 2 it
// could not do its work (usage, configuration, I/O).
func TestExitStatuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	safe := write("migs/00001_add_note.sql", "-- ---\n-- risk: 1\n-- ---\n-- +goose Up\nCREATE TABLE notes (id bigint PRIMARY KEY, body text);\n-- +goose Down\nDROP TABLE notes;\n")
	hazard := write("bad/00002_retype.sql", "-- ---\n-- risk: 8\n-- ---\n-- +goose Up\nALTER TABLE orders ALTER COLUMN total TYPE bigint;\n-- +goose Down\nALTER TABLE orders ALTER COLUMN total TYPE int;\n")
	badCfg := write("bad.yaml", "nope: [\n")
	missing := filepath.Join(dir, "missing.sql")
	migs := filepath.Dir(safe)

	commands := []string{"version", "history", "lint", "verify", "changes", "lab", "train", "predict", "rollout", "demo", "run", "approve", "skip", "promote", "pause", "resume", "abort", "promote-now", "exclude", "include"}
	cases := []struct {
		args []string
		want int
	}{
		{[]string{"version"}, statusOK},
		{[]string{"no-such-command"}, statusError},
		{[]string{"lint", safe}, statusOK},
		{[]string{"lint", migs}, statusOK},
		{[]string{"lint", hazard}, statusFindings},
		{[]string{"lint", missing}, statusError},
		{[]string{"lint"}, statusError},
		{[]string{"lint", "--format", "xml", safe}, statusError},
		{[]string{"predict", safe}, statusOK},
		{[]string{"predict", migs}, statusOK},
		{[]string{"predict", "--fail-below", "0.99", hazard}, statusFindings},
		{[]string{"predict", missing}, statusError},
		{[]string{"predict", "--threshold", "7", safe}, statusError},
		{[]string{"verify", safe}, statusError}, // needs --dsn
		{[]string{"changes", "--repo", filepath.Join(dir, "no-repo")}, statusError},
		{[]string{"history", "--repo", filepath.Join(dir, "no-repo")}, statusError},
		{[]string{"train", "--data", missing, "--out", filepath.Join(dir, "m.json")}, statusError},
		{[]string{"rollout", safe, "-c", badCfg}, statusError},
		{[]string{"rollout", safe, "-c", badCfg, "--format", "xml"}, statusError},
		{[]string{"run", "-c", badCfg}, statusError},
		{[]string{"approve", "x", "--by", "ana", "-c", badCfg}, statusError},
		{[]string{"approve", "7", "--by", "ana", "-c", badCfg}, statusError},
		{[]string{"skip", "7", "--by", "ana", "-c", badCfg}, statusError},
		{[]string{"promote", "7", "--by", "ana", "-c", badCfg}, statusError},
		{[]string{"pause", "7", "--by", "ana", "--why", "w", "-c", badCfg}, statusError},
		{[]string{"abort", "x", "--by", "ana", "--why", "w", "-c", badCfg}, statusError},
		{[]string{"abort", "7", "--by", "ana", "-c", badCfg}, statusError},                 // --why is required
		{[]string{"exclude", "7", "--by", "ana", "--why", "w", "-c", badCfg}, statusError}, // TARGET is required
		{[]string{"promote-now", "7", "--by", "ana", "--why", "w", "-c", badCfg}, statusError},
	}
	for _, c := range commands {
		cases = append(cases, struct {
			args []string
			want int
		}{[]string{c, "--bogus-flag"}, statusError})
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		got := run(context.Background(), tc.args, &out, &errOut)
		if got != tc.want {
			t.Errorf("schemacanary %s: exit %d, want %d\nstdout: %.300s\nstderr: %.300s", strings.Join(tc.args, " "), got, tc.want, out.String(), errOut.String())
		}
	}
}
