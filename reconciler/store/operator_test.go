package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
	"github.com/schemacanary/schemacanary/reconciler/store/storetest"
)

// TestOperatorActions: commands are stored with who, why, where, the wave
// and state they were given in, read back in order per change, and drained
// once by the audit outbox.
func TestOperatorActions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.Open(t)
	in := []change.OperatorAction{
		{Version: 3, Command: change.CommandPause, By: "bob", Why: "black friday", Source: "cli", State: change.StateBaking},
		{Version: 4, Command: change.CommandAbort, By: "alice", Why: "pager", Source: "api", State: change.StatePromoting, Wave: 2},
		{Version: 3, Command: change.CommandExclude, Target: "m2", By: "dave", Why: "freeze", Source: "api", State: change.StatePromoting, Wave: 1},
	}
	for i, a := range in {
		got, err := s.RecordAction(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == 0 || got.At.IsZero() {
			t.Fatalf("recorded %+v: no id or time", got)
		}
		in[i] = got
	}
	acts, err := s.Actions(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 2 || acts[0].Command != change.CommandPause || acts[1].Target != "m2" || acts[1].Wave != 1 ||
		acts[1].State != change.StatePromoting || acts[1].By != "dave" || acts[1].Why != "freeze" || acts[1].Source != "api" {
		t.Fatalf("actions of 3: %+v", acts)
	}
	un, err := s.UnauditedActions(ctx, 10)
	if err != nil || len(un) != 3 || un[0].ID != in[0].ID || un[2].ID != in[2].ID {
		t.Fatalf("unaudited: %+v %v", un, err)
	}
	if err := s.MarkActionAudited(ctx, in[1].ID); err != nil {
		t.Fatal(err)
	}
	un, err = s.UnauditedActions(ctx, 10)
	if err != nil || len(un) != 2 || un[1].ID != in[2].ID {
		t.Fatalf("unaudited after marking one: %+v %v", un, err)
	}
	if f := change.Fold(acts); f.Paused == nil || f.Excluded["m2"].By != "dave" || f.Aborted != nil {
		t.Errorf("fold: %+v", f)
	}
}

// TestStatusShowsOperatorCommands: the status page's read model lists
// every command in the timeline, says a pause in force in the held box,
// and names the excluded instances.
func TestStatusShowsOperatorCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.Open(t)
	if _, err := s.Discover(ctx, &change.Request{Version: 9, Name: "m", Path: "m.sql", SHA256: "x", Commit: "c", Source: []byte("-- +goose Up\n")}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []change.OperatorAction{
		{Version: 9, Command: change.CommandExclude, Target: "m2", By: "dave", Why: "freeze", Source: "api"},
		{Version: 9, Command: change.CommandPause, By: "bob", Why: "black friday", Source: "cli"},
	} {
		if _, err := s.RecordAction(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	d, err := store.NewStatus(s).GetChange(ctx, 9)
	if err != nil || d == nil {
		t.Fatalf("status: %v", err)
	}
	if !strings.Contains(d.Held, "paused by bob: black friday") || !strings.Contains(d.Held, "schemacanary resume 9") {
		t.Errorf("held %q", d.Held)
	}
	var seen []string
	for _, e := range d.Timeline {
		if strings.HasPrefix(e.Step, "operator") {
			seen = append(seen, e.Step+" "+e.Instance+" "+e.Message)
		}
	}
	want := "operator exclude m2 by dave via api: freeze|operator pause  by bob via cli: black friday|operator excluded  excluded from the rollout now: m2"
	if strings.Join(seen, "|") != want {
		t.Errorf("timeline:\n%s\nwant:\n%s", strings.Join(seen, "|"), want)
	}
}
