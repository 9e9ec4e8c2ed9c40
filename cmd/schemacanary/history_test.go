package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/audit"

	"github.com/go-git/go-git/v5"
)

func TestHistoryCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	a, err := audit.NewAudit(repo)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i, tr := range []audit.Transition{
		{Version: 3, To: "discovered"},
		{Version: 3, From: "discovered", To: "predicted", Reason: "confidence 31%"},
		{Version: 4, To: "discovered"},
		{Version: 3, From: "predicted", To: "awaiting_approval"},
	} {
		tr.At = at.Add(time.Duration(i) * time.Minute)
		if _, err := a.Record(ctx, audit.ChangeRecord{Version: tr.Version, Name: "risky"}, tr); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (string, error) {
		cmd := newRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	cases := []struct {
		name     string
		args     []string
		contains []string
		lines    int
		code     int
	}{
		{"all", []string{"history", "--repo", dir}, []string{"2026-11-25T12:01:00Z  3       discovered  predicted", "confidence 31%"}, 5, 0},
		{"one", []string{"history", "3", "--repo", dir, "--file"}, []string{"awaiting_approval", "# Change 3 risky", "## States"}, 0, 0},
		{"none", []string{"history", "9", "--repo", "file://" + dir}, []string{"AT"}, 1, 1},
		{"bad version", []string{"history", "x", "--repo", dir}, nil, 0, 2},
	}
	for _, c := range cases {
		out, err := run(c.args...)
		var ee *exitError
		switch {
		case c.code == 0 && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.code != 0 && (!errors.As(err, &ee) || ee.code != c.code):
			t.Errorf("%s: err %v, want exit %d", c.name, err, c.code)
		}
		for _, s := range c.contains {
			if !strings.Contains(out, s) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, s, out)
			}
		}
		if c.lines > 0 && strings.Count(out, "\n") != c.lines {
			t.Errorf("%s: %d lines, want %d:\n%s", c.name, strings.Count(out, "\n"), c.lines, out)
		}
	}
	out, err := run("history", "3", "--repo", dir, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var trs []audit.Transition
	if err := json.Unmarshal([]byte(out), &trs); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if len(trs) != 3 || trs[2].To != "awaiting_approval" || trs[1].Reason != "confidence 31%" || trs[0].Commit == "" {
		t.Errorf("json transitions = %+v", trs)
	}
}
