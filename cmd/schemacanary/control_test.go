package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
)

// TestControlCommands runs the rollout commands as an operator does,
// against a real control store: accepted ones are recorded with who, why
// and the source "cli"; refused ones (a state they do not apply to, an
// unknown target, a resume without a pause) exit 2, say why, and record
// nothing.
func TestControlCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	s, err := store.Open(ctx, secret.NewSecret(dsn), &secret.Redactor{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Discover(ctx, &change.Request{Version: 42, Name: "m", Path: "m.sql", SHA256: "x", Commit: "c", Source: []byte("-- +goose Up\n")}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []change.State{change.StatePredicted, change.StateApproved, change.StateCanary, change.StateBaking} {
		c, err := s.Get(ctx, 42)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, c, change.Move{To: st, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "control.dsn")
	cfg := filepath.Join(dir, "schemacanary.yaml")
	if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "repo:\n  url: file:///srv/migrations.git\nfleet:\n  instances:\n    - {name: c1, dsn_env: C1_DSN, group: canary}\n    - {name: m1, dsn_env: M1_DSN}\ncontrol:\n  dsn_file: " + dsnFile + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args     []string
		want     int
		inOutput string
	}{
		{[]string{"pause", "42", "--by", "alice", "--why", "black friday"}, statusOK, "pause of 42 by alice recorded (change is baking"},
		{[]string{"pause", "42", "--by", "alice", "--why", "again"}, statusError, "paused already by alice"},
		{[]string{"resume", "42", "--by", "alice", "--why", "over"}, statusOK, "resume of 42"},
		{[]string{"resume", "42", "--by", "alice", "--why", "over"}, statusError, "not paused"},
		{[]string{"exclude", "42", "nope", "--by", "dave", "--why", "x"}, statusError, `unknown target "nope": the fleet has c1, m1`},
		{[]string{"exclude", "42", "m1", "--by", "dave", "--why", "freeze"}, statusOK, "exclude m1 of 42 by dave recorded"},
		{[]string{"promote-now", "42", "--by", "carol", "--why", "train"}, statusOK, "promote_now of 42"},
		{[]string{"abort", "41", "--by", "alice", "--why", "x"}, statusError, "no merged migration has this version"},
		{[]string{"abort", "42", "--by", "alice", "--why", "pager"}, statusOK, "abort of 42 by alice recorded"},
		{[]string{"include", "42", "m1", "--by", "dave", "--why", "x"}, statusError, "aborted already by alice"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		got := run(ctx, append(c.args, "-c", cfg), &out, &errOut)
		if got != c.want || !strings.Contains(out.String()+errOut.String(), c.inOutput) {
			t.Errorf("%v: exit %d, output %q %q; want %d with %q", c.args, got, out.String(), errOut.String(), c.want, c.inOutput)
		}
	}
	acts, err := s.Actions(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 5 {
		t.Fatalf("recorded %d commands, want the 5 accepted: %+v", len(acts), acts)
	}
	if a := acts[4]; a.Command != change.CommandAbort || a.By != "alice" || a.Why != "pager" || a.Source != "cli" {
		t.Errorf("abort recorded as %+v", a)
	}
}
