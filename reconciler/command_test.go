package reconciler

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/reconciler/change"
)

// moveTo discovers change v and moves it through the state machine to
// each of states in turn.
func moveTo(t *testing.T, w *fakeWorld, v int64, states ...change.State) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.store.Discover(ctx, &change.Request{Version: v, Name: "m", Path: "m.sql", SHA256: "x", Commit: "c", Source: []byte("-- +goose Up\n")}); err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		c, err := w.store.Get(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.store.Transition(ctx, c, change.Move{To: s, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOperatorCommands: each command is validated (known version, a state
// it applies to, a known target, who and why given, not redundant) and
// refused without recording anything, or recorded; the rollout reads them
// folded; the flush step writes each to the audit branch with who and why.
func TestOperatorCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFakeWorld(t)
	fleet := []string{"c1", "m1", "m2"}
	moveTo(t, w, 7, change.StatePredicted, change.StateApproved, change.StateCanary, change.StateBaking)
	moveTo(t, w, 8)
	cmd := func(v int64, c change.Command, target, by, why string) error {
		_, _, err := Command(ctx, w.store, change.OperatorAction{Version: v, Command: c, Target: target, By: by, Why: why, Source: "cli"}, CommandPolicy{Targets: fleet})
		return err
	}
	steps := []struct {
		v               int64
		cmd             change.Command
		target, by, why string
		want            error
	}{
		{99, change.CommandPause, "", "bob", "x", change.ErrNotFound},
		{8, change.CommandPause, "", "bob", "x", change.ErrRefused}, // discovered: not rolling out
		{8, change.CommandAbort, "", "bob", "x", change.ErrRefused},
		{7, change.CommandPause, "", "", "x", change.ErrRefused},     // who is required
		{7, change.CommandPause, "", "bob", " ", change.ErrRefused},  // why is required
		{7, change.CommandResume, "", "bob", "x", change.ErrRefused}, // not paused
		{7, change.CommandPause, "", "bob", "black friday", nil},
		{7, change.CommandPause, "", "bob", "again", change.ErrRefused},
		{7, change.CommandResume, "", "bob", "over", nil},
		{7, change.CommandExclude, "nope", "dave", "x", change.ErrUnknownTarget},
		{7, change.CommandExclude, "m2", "dave", "customer freeze", nil},
		{7, change.CommandExclude, "m2", "dave", "twice", change.ErrRefused},
		{7, change.CommandInclude, "m1", "dave", "not excluded", change.ErrRefused},
		{7, change.CommandPromoteNow, "", "carol", "release train", nil},
		{7, change.CommandAbort, "", "alice", "pager", nil},
		{7, change.CommandAbort, "", "alice", "twice", change.ErrRefused},
		{7, change.CommandResume, "", "bob", "after the abort", change.ErrRefused},
	}
	for i, s := range steps {
		err := cmd(s.v, s.cmd, s.target, s.by, s.why)
		if s.want == nil && err != nil || s.want != nil && !errors.Is(err, s.want) {
			t.Fatalf("step %d %s %d %q: %v, want %v", i, s.cmd, s.v, s.target, err, s.want)
		}
	}
	acts, err := w.store.Actions(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 5 {
		t.Fatalf("%d actions recorded, want the 5 accepted: %+v", len(acts), acts)
	}
	cmds, err := storeControls{w.store}.Commands(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if cmds.Paused != nil || cmds.Abort == nil || cmds.Abort.String() != "alice: pager" || cmds.PromoteNow == nil || cmds.PromoteNow.Wave != 0 ||
		cmds.Excluded["m2"].By != "dave" {
		t.Errorf("commands in force: %+v", cmds)
	}
	// The flush writes each command to the audit branch, once.
	if err := w.rec.flush(ctx, &Result{}); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, tr := range w.audit.trs[7] {
		if strings.HasPrefix(tr.Step, "operator ") {
			ops = append(ops, tr.Actor+" | "+tr.Reason)
			if tr.From != "baking" || tr.To != "baking" {
				t.Errorf("operator record %+v moves the state", tr)
			}
		}
	}
	want := []string{
		"bob | operator pause by bob via cli: black friday",
		"bob | operator resume by bob via cli: over",
		"dave | operator exclude m2 by dave via cli: customer freeze",
		"carol | operator promote_now (wave 0) by carol via cli: release train",
		"alice | operator abort by alice via cli: pager",
	}
	if strings.Join(ops, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit records:\n%s\nwant:\n%s", strings.Join(ops, "\n"), strings.Join(want, "\n"))
	}
	if notes := w.audit.rec[7].Notes; len(notes) != 5 || !strings.Contains(notes[4], "abort by alice via cli: pager") {
		t.Errorf("audit file notes: %q", notes)
	}
	if left, err := w.store.UnauditedActions(ctx, 10); err != nil || len(left) != 0 {
		t.Errorf("unaudited after the flush: %+v %v", left, err)
	}
}

// TestAbortReleasesAnInconclusiveHold: an abort of a change held
// inconclusive rolls its canary back (no skip): rolling_back with the
// operator's reason, then rolled_back.
func TestAbortReleasesAnInconclusiveHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFakeWorld(t)
	moveTo(t, w, 5, change.StatePredicted, change.StateApproved, change.StateCanary, change.StateBaking, change.StateInconclusive)
	if _, _, err := Command(ctx, w.store, change.OperatorAction{Version: 5, Command: change.CommandAbort, By: "alice", Why: "not worth the wait", Source: "api"}, CommandPolicy{}); err != nil {
		t.Fatal(err)
	}
	c, err := w.store.Get(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.rec.stepInconclusive(ctx, c); err != nil {
		t.Fatal(err)
	}
	c, err = w.store.Get(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateRollingBack || c.Reason != "aborted by alice: not worth the wait" || c.SkippedBy != "" {
		t.Fatalf("after the abort: %s %q (skipped by %q)", c.State, c.Reason, c.SkippedBy)
	}
}
