package change

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/schemacanary/schemacanary/rollout/judge"
)

// A judge decision survives the trip through the control store's JSON:
// outcomes are kept by name and read back as the judge's values.
func TestJudgeRecordRoundTrip(t *testing.T) {
	dec := judge.Decision{Outcome: judge.Fail, Reason: "latency 150× the control", Verdicts: []judge.Verdict{
		{KPI: "latency:q", Reference: judge.RefControl, Outcome: judge.Fail, Test: judge.TestMannWhitney, PValue: 1e-5, RelEffect: 149},
		{KPI: judge.KPIErrorRate, Reference: judge.RefControl, Outcome: judge.Pass, Test: judge.TestTwoProp, PValue: 0.4},
	}}
	b, err := json.Marshal(Event{Version: 1, Step: "judge", Outcome: "fail", Detail: EventDetail{Decision: NewJudgeRecord(dec)}})
	if err != nil {
		t.Fatal(err)
	}
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if e.Detail.Decision == nil {
		t.Fatalf("decision lost: %s", b)
	}
	got := e.Detail.Decision.Decision()
	if got.Outcome != judge.Fail || got.Reason != dec.Reason || len(got.Verdicts) != 2 ||
		got.Verdicts[0].Outcome != judge.Fail || got.Verdicts[0].Test != judge.TestMannWhitney || got.Verdicts[0].RelEffect != 149 ||
		got.Verdicts[1].Outcome != judge.Pass || got.Verdicts[1].PValue != 0.4 {
		t.Errorf("read back %+v from %s", got, b)
	}
	if f := e.Detail.Decision.Failed(); len(f) != 1 || f[0].KPI != "latency:q" {
		t.Errorf("failed verdicts %+v", f)
	}
}

// Events stored before the detail was typed ({"error": ...} and
// {"decision": {...}} objects) read as the typed detail.
func TestEventDetailReadsStoredShape(t *testing.T) {
	var d EventDetail
	if err := json.Unmarshal([]byte(`{"error":"lock timeout","decision":{"outcome":"extend","reason":"too few samples","verdicts":null}}`), &d); err != nil {
		t.Fatal(err)
	}
	if d.Error != "lock timeout" || d.Decision == nil || d.Decision.Decision().Outcome != judge.Extend {
		t.Errorf("detail %+v", d)
	}
}

// The state machine allows the pipeline's moves and names a forbidden one.
func TestCanMove(t *testing.T) {
	if err := CanMove(StateBaking, StatePromoting); err != nil {
		t.Error(err)
	}
	if err := CanMove(StateDone, StateCanary); !errors.Is(err, ErrBadTransition) {
		t.Errorf("done → canary: %v", err)
	}
	// Terminal states hold no queue and have no moves, but for an
	// operator's revert of a done change (within the revert window).
	for _, s := range AllStates {
		moves := transitions[s]
		if s == StateDone && len(moves) == 1 && moves[0] == StateRollingBack {
			continue
		}
		if s.Terminal() && len(moves) > 0 {
			t.Errorf("terminal state %s has moves %v", s, moves)
		}
	}
}
