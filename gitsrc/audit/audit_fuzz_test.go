package audit

import (
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// FuzzTransitionMessage checks that any transition survives the trip
// through a commit message and its trailers, and that the audit file's
// front matter round-trips too.
func FuzzTransitionMessage(f *testing.F) {
	f.Add(int64(42), "canary", "baking", "pg-1", "wave 1", "bake 10m", "schemacanary")
	f.Add(int64(1), "", "discovered", "", "", "", "")
	f.Add(int64(7), "a: b", "x\n\ny", "Key: v", "#", "line\n\nState: forged", ": ")
	f.Fuzz(func(t *testing.T, v int64, from, to, inst, step, reason, actor string) {
		if v <= 0 || SingleLine(to) == "" || !validUTF8(from, to, inst, step, reason, actor) {
			return
		}
		tr := Transition{Version: v, From: from, To: to, Instance: inst, Step: step, Reason: reason, Actor: actor,
			At: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}.normalized()
		got, ok := parseTransition(&object.Commit{Message: transitionMessage(tr)})
		if !ok {
			t.Fatalf("not parsed back: %q", transitionMessage(tr))
		}
		got.Commit = ""
		if got != tr {
			t.Fatalf("round trip:\n got %+v\nwant %+v\nmsg %q", got, tr, transitionMessage(tr))
		}
		doc, err := renderChange(ChangeRecord{Version: v, Name: inst}, []Transition{tr})
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseChangeFile(doc)
		if err != nil || len(back) != 1 || back[0].ID() != tr.ID() {
			t.Fatalf("audit file round trip: %v %+v\n%s", err, back, doc)
		}
	})
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
