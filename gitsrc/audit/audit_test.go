package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/schemacanary/schemacanary/gitsrc/internal/gittest"
)

func auditTestNew(t *testing.T, repo *git.Repository, opts ...AuditOption) *Audit {
	t.Helper()
	a, err := NewAudit(repo, append([]AuditOption{WithAuditClock(gittest.Clock())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAuditRecordIsIdempotentAndPushed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := gittest.BareRemote(t)
	a := auditTestNew(t, gittest.Clone(t, remote))
	rec := ChangeRecord{Version: 42, Name: "add_note", Path: "migrations/0042_add_note.sql", PR: 7, Risk: 3,
		Prediction: &PredictionRecord{Confidence: 0.93, Threshold: 0.8, Model: "bootstrap-1",
			Reasons: []PredictionReason{{Feature: "lock_access_exclusive", Value: 1, Contribution: -0.4, Text: "ALTER TABLE takes ACCESS EXCLUSIVE"}}},
	}
	steps := []Transition{
		{From: "", To: "discovered"},
		{From: "discovered", To: "predicted", Reason: "confidence 93%"},
		{From: "predicted", To: "approved", Actor: "schemacanary"},
		{From: "approved", To: "canary", Instance: "pg-1", Step: "wave 1"},
	}
	for i, tr := range steps {
		tr.Version = 42
		for attempt := 0; attempt < 2; attempt++ { // the second attempt is the "after a crash" repeat
			if i == 3 {
				rec.KPIs = []KPIVerdict{{KPI: "p99 select orders", Instance: "pg-1", Unit: "ms", Canary: 5, Control: 4.8, PValue: 0.4, Effect: 0.04,
					Series: []KPIPoint{{At: time.Unix(0, 0), Canary: 4, Control: 4}, {At: time.Unix(5, 0), Canary: 5, Control: 4.8}}}}
			}
			got, err := a.Record(ctx, rec, tr)
			if err != nil {
				t.Fatalf("record %s: %v", tr.ID(), err)
			}
			if want := attempt == 0; got != want {
				t.Fatalf("record %s attempt %d: committed=%v, want %v", tr.ID(), attempt, got, want)
			}
		}
	}
	// A fresh reader on another clone sees exactly the four transitions.
	b := auditTestNew(t, gittest.Clone(t, remote))
	hist, err := b.History(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != len(steps) {
		t.Fatalf("history has %d transitions, want %d: %+v", len(hist), len(steps), hist)
	}
	for i, h := range hist {
		if h.From != steps[i].From || h.To != steps[i].To || h.Instance != steps[i].Instance || h.Step != steps[i].Step {
			t.Errorf("transition %d = %+v, want %+v", i, h, steps[i])
		}
		if h.Commit == "" || h.At.IsZero() {
			t.Errorf("transition %d lacks commit or time: %+v", i, h)
		}
	}
	if hist[1].Reason != "confidence 93%" || hist[2].Actor != "schemacanary" {
		t.Errorf("reason/actor lost: %+v", hist)
	}
	// The same transition from a new process (fresh clone) is still a no-op.
	if got, err := b.Record(ctx, rec, Transition{Version: 42, From: "approved", To: "canary", Instance: "pg-1", Step: "wave 1"}); err != nil || got {
		t.Fatalf("repeat from fresh clone: committed=%v err=%v", got, err)
	}
	doc, ok, err := b.ReadChange(ctx, 42)
	if err != nil || !ok {
		t.Fatalf("read change: ok=%v err=%v", ok, err)
	}
	for _, want := range []string{"state: canary", "## Prediction", "93.0%", "## States", "## KPI verdicts", "```mermaid", "xychart-beta", "line [5, 4.8]"} {
		if !strings.Contains(string(doc), want) && !strings.Contains(string(doc), strings.ReplaceAll(want, "[5, 4.8]", "[4, 5]")) {
			t.Errorf("audit file lacks %q:\n%s", want, doc)
		}
	}
	if out, ok := gittest.CLI(t, remote, "log", "--format=%s", AuditBranch); ok {
		want := "42 approved -> canary on pg-1 (wave 1)\n42 predicted -> approved\n42 discovered -> predicted\n42 (new) -> discovered\n"
		if out != want {
			t.Errorf("git log:\n%s\nwant:\n%s", out, want)
		}
		gittest.CLI(t, remote, "fsck", "--strict")
	}
}

func TestAuditConcurrentWritersLoseNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := gittest.BareRemote(t)
	const writers, per = 3, 3
	var audits []*Audit
	for w := 0; w < writers; w++ {
		audits = append(audits, auditTestNew(t, gittest.Clone(t, remote), WithAuditPushRetries(50)))
	}
	auditTestWriteConcurrently(t, audits, 100, per)
	hist, err := auditTestNew(t, gittest.Clone(t, remote)).History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != writers*per {
		t.Fatalf("history has %d transitions, want %d", len(hist), writers*per)
	}
	seen := map[int64]int{}
	for _, h := range hist {
		if h.To != fmt.Sprintf("s%d", seen[h.Version]) {
			t.Errorf("change %d: transition %d is %s, out of order", h.Version, seen[h.Version], h.To)
		}
		seen[h.Version]++
	}
}

// auditTestWriteConcurrently has audit i record transitions s0..s<per-1>
// of change first+i, all audits at once, and fails on any error.
func auditTestWriteConcurrently(t *testing.T, audits []*Audit, first int64, per int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(audits))
	for i, a := range audits {
		wg.Add(1)
		go func(v int64) {
			defer wg.Done()
			prev := ""
			for k := 0; k < per; k++ {
				to := fmt.Sprintf("s%d", k)
				if _, err := a.Record(context.Background(), ChangeRecord{Version: v}, Transition{From: prev, To: to}); err != nil {
					errs <- err
					return
				}
				prev = to
			}
		}(first + int64(i))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestAuditReplaysUnpushedCommitsAfterDivergence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := gittest.BareRemote(t)
	repoA := gittest.Clone(t, remote)
	// A writes while it cannot push (remote disabled), as after a network
	// failure; meanwhile B publishes.
	offline := auditTestNew(t, repoA, WithAuditRemote(""))
	if _, err := offline.Record(ctx, ChangeRecord{Version: 1}, Transition{To: "discovered"}); err != nil {
		t.Fatal(err)
	}
	b := auditTestNew(t, gittest.Clone(t, remote))
	if _, err := b.Record(ctx, ChangeRecord{Version: 2}, Transition{To: "discovered"}); err != nil {
		t.Fatal(err)
	}
	online := auditTestNew(t, repoA)
	if _, err := online.Record(ctx, ChangeRecord{Version: 1}, Transition{From: "discovered", To: "predicted"}); err != nil {
		t.Fatal(err)
	}
	hist, err := b.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hist {
		got = append(got, fmt.Sprintf("%d:%s", h.Version, h.To))
	}
	if want := "2:discovered 1:discovered 1:predicted"; strings.Join(got, " ") != want {
		t.Fatalf("history %v, want %s", got, want)
	}
	doc, _, err := b.ReadChange(ctx, 2)
	if err != nil || !strings.Contains(string(doc), "state: discovered") {
		t.Fatalf("change 2 lost by replay: %v\n%s", err, doc)
	}
}

func TestOpenAuditByURLAndMissingBranch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := gittest.BareRemote(t)
	empty, err := OpenAudit(ctx, "file://"+remote)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := empty.History(ctx, 0); err == nil || !strings.Contains(err.Error(), ErrNoAudit.Error()) {
		t.Fatalf("history of empty remote: %v, want ErrNoAudit", err)
	}
	w := auditTestNew(t, gittest.Clone(t, remote))
	if _, err := w.Record(ctx, ChangeRecord{Version: 5}, Transition{To: "discovered", Reason: "merged in\n#3"}); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{"file://" + remote, remote} {
		a, err := OpenAudit(ctx, loc)
		if err != nil {
			t.Fatal(err)
		}
		hist, err := a.History(ctx, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Reason != "merged in #3" {
			t.Fatalf("%s: history %+v", loc, hist)
		}
	}
	if ref, err := git.PlainOpen(remote); err == nil {
		if _, err := ref.Reference(plumbing.NewBranchReferenceName(AuditBranch), true); err != nil {
			t.Fatalf("remote lacks %s: %v", AuditBranch, err)
		}
	}
}

func TestAuditRejectsBadInput(t *testing.T) {
	t.Parallel()
	a := auditTestNew(t, gittest.Clone(t, gittest.BareRemote(t)))
	cases := []struct {
		name string
		rec  ChangeRecord
		tr   Transition
	}{
		{"no version", ChangeRecord{}, Transition{To: "x"}},
		{"mismatch", ChangeRecord{Version: 1}, Transition{Version: 2, To: "x"}},
		{"no state", ChangeRecord{Version: 1}, Transition{}},
	}
	for _, c := range cases {
		if _, err := a.Record(context.Background(), c.rec, c.tr); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if _, err := NewAudit(nil); err == nil {
		t.Error("nil repo accepted")
	}
	if _, err := NewAudit(gittest.Clone(t, t.TempDir()), WithAuditRemote("nope")); err == nil {
		t.Error("unknown remote accepted")
	}
	if _, err := NewAudit(gittest.Clone(t, t.TempDir()), WithAuditBranch("bad name")); err == nil {
		t.Error("bad branch accepted")
	}
}

func TestAuditUpdateWithoutTransition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := auditTestNew(t, gittest.Clone(t, gittest.BareRemote(t)))
	if _, err := a.Update(ctx, ChangeRecord{Version: 8}); err == nil {
		t.Fatal("update of an unknown change accepted")
	}
	rec := ChangeRecord{Version: 8, Name: "idx"}
	if _, err := a.Record(ctx, rec, Transition{To: "canary", Instance: "pg-1"}); err != nil {
		t.Fatal(err)
	}
	rec.Timeline = []InstanceEvent{{At: time.Unix(100, 0), Instance: "pg-1", Wave: "canary", Step: "apply", Result: "ok", Detail: "lock wait 3ms | 1 retry"}}
	for i, want := range []bool{true, false} {
		got, err := a.Update(ctx, rec)
		if err != nil || got != want {
			t.Fatalf("update %d: committed=%v err=%v, want %v", i, got, err, want)
		}
	}
	doc, _, err := a.ReadChange(ctx, 8)
	if err != nil || !strings.Contains(string(doc), `lock wait 3ms \| 1 retry`) || !strings.Contains(string(doc), "state: canary") {
		t.Fatalf("record after update: %v\n%s", err, doc)
	}
	if hist, err := a.History(ctx, 8); err != nil || len(hist) != 1 {
		t.Fatalf("update counted as a transition: %+v %v", hist, err)
	}
}

func TestAuditHistoryReadsLocalCopyWhenRemoteIsGone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := gittest.BareRemote(t)
	repo := gittest.Clone(t, remote)
	w := auditTestNew(t, repo)
	if _, err := w.Record(ctx, ChangeRecord{Version: 3}, Transition{To: "discovered"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := repo.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Remotes["origin"].URLs = []string{filepath.Join(t.TempDir(), "gone.git")}
	if err := repo.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	r := auditTestNew(t, repo)
	hist, err := r.History(ctx, 3)
	if err != nil || len(hist) != 1 {
		t.Fatalf("history offline: %+v %v", hist, err)
	}
	if _, err := r.Record(ctx, ChangeRecord{Version: 3}, Transition{From: "discovered", To: "predicted"}); err == nil {
		t.Fatal("record succeeded without its remote")
	}
}
