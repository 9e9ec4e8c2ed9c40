package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/schemacanary/schemacanary/gitsrc/audit"
)

// The reconciler records each state transition of a change on the audit
// branch; History reads them back from the commit log. Repeating a
// transition (after a crash) commits nothing.
func ExampleAudit() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "audit-example")
	defer os.RemoveAll(dir)
	repo, _ := git.PlainInit(dir, true)
	a, _ := audit.NewAudit(repo, audit.WithAuditLogger(slog.New(slog.DiscardHandler)))

	rec := audit.ChangeRecord{Version: 42, Name: "add_note", Path: "migrations/0042_add_note.sql", PR: 7}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tr := range []audit.Transition{
		{From: "", To: "discovered", At: at},
		{From: "discovered", To: "predicted", At: at.Add(time.Second), Reason: "confidence 93%"},
		{From: "discovered", To: "predicted", At: at.Add(time.Second), Reason: "confidence 93%"}, // a repeat
	} {
		committed, err := a.Record(ctx, rec, tr)
		fmt.Println(committed, err)
	}
	history, _ := a.History(ctx, 42)
	for _, t := range history {
		fmt.Printf("%s %d %q -> %q (%s)\n", t.At.Format(time.RFC3339), t.Version, t.From, t.To, t.Reason)
	}
	// Output:
	// true <nil>
	// true <nil>
	// false <nil>
	// 2026-11-25T12:00:00Z 42 "" -> "discovered" ()
	// 2026-11-25T12:00:01Z 42 "discovered" -> "predicted" (confidence 93%)
}
