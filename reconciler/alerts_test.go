package reconciler

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/notify"
)

// recordingNotifier keeps every event it is given.
type recordingNotifier struct {
	mu     sync.Mutex
	events []notify.Event
}

func (n *recordingNotifier) Notify(e notify.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, e)
}

func (n *recordingNotifier) of(v int64) []notify.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []notify.Event
	for _, e := range n.events {
		if e.Version == v {
			out = append(out, e)
		}
	}
	return out
}

func kinds(es []notify.Event) []notify.Kind {
	out := make([]notify.Kind, len(es))
	for i, e := range es {
		out[i] = e.Kind
	}
	return out
}

// TestTransitionsRaiseAlerts takes a safe, a harmful and a risky change
// through the loop and checks the events each transition raised, and
// their count in schemacanary_alert_events_total.
func TestTransitionsRaiseAlerts(t *testing.T) {
	t.Parallel()
	rn := &recordingNotifier{}
	m := NewMetrics()
	w := newFakeWorld(t, WithNotifier(rn), WithMetrics(m))
	w.src.merge(t, "migrations/00001_safe.sql", migrationtest.Source(2, "CREATE TABLE t (id int);", "DROP TABLE t;"))
	w.src.merge(t, "migrations/00002_harmful.sql", migrationtest.Source(3, "DROP INDEX t_idx;", "CREATE INDEX t_idx ON t (id);"))
	w.src.merge(t, "migrations/00003_risky.sql", migrationtest.Source(9, "ALTER TABLE t ADD COLUMN x int;", "ALTER TABLE t DROP COLUMN x;"))
	w.reconcile(t)
	w.forge.mu.Lock()
	w.forge.merged[2] = true
	w.forge.mu.Unlock()
	w.reconcile(t)
	if got := w.state(t, 3); got != change.StateAwaitingApproval {
		t.Fatalf("risky: %s, want awaiting_approval", got)
	}

	want := map[int64][]notify.Kind{
		1: {notify.KindCanaryStarted, notify.KindWavePromoted, notify.KindDone},
		2: {notify.KindCanaryStarted, notify.KindRolledBack},
		3: {notify.KindAwaitingApproval},
	}
	ids := map[string]bool{}
	for v, ks := range want {
		es := rn.of(v)
		if got := kinds(es); !slices.Equal(got, ks) {
			t.Errorf("change %d raised %v, want %v", v, got, ks)
		}
		for _, e := range es {
			if ids[e.ID] || e.ID == "" || e.Time.IsZero() || e.File == "" || e.Confidence == nil {
				t.Errorf("event %+v: want a unique id, a time, the file and the confidence", e)
			}
			ids[e.ID] = true
		}
	}
	if es := rn.of(1); len(es) == 3 && (es[1].Wave != 1 || es[1].State != "promoting" || es[0].Wave != 0) {
		t.Errorf("safe change's waves: %+v", es)
	}
	if es := rn.of(2); len(es) == 2 && !strings.Contains(es[1].Reason, "latency") {
		t.Errorf("rollback reason %q should say what the judge saw", es[1].Reason)
	}
	if es := rn.of(3); len(es) == 1 && (es[0].File != "migrations/00003_risky.sql" || *es[0].Confidence != 0.40 ||
		!strings.Contains(es[0].Reason, "threshold")) {
		t.Errorf("awaiting approval event %+v", es[0])
	}
	for k, n := range map[notify.Kind]float64{notify.KindCanaryStarted: 2, notify.KindDone: 1, notify.KindAwaitingApproval: 1,
		notify.KindRolledBack: 1, notify.KindWavePromoted: 1, notify.KindFailed: 0, notify.KindDrift: 0} {
		if got := testutil.ToFloat64(m.alertEvents.WithLabelValues(string(k))); got != n {
			t.Errorf("schemacanary_alert_events_total{kind=%q} = %v, want %v", k, got, n)
		}
	}
}

// TestEveryStateHasItsAlertDecision lists, for every state, the event a
// transition into it raises, so a new state is a decision, not an omission.
func TestEveryStateHasItsAlertDecision(t *testing.T) {
	t.Parallel()
	want := map[change.State]notify.Kind{
		change.StateDiscovered: "", change.StatePredicted: "", change.StateAwaitingApproval: notify.KindAwaitingApproval, change.StateApproved: "",
		change.StateCanary: notify.KindCanaryStarted, change.StateBaking: "", change.StateInconclusive: notify.KindInconclusive,
		change.StatePromoting: notify.KindWavePromoted, change.StateWatching: "", change.StateDone: notify.KindDone, change.StateRollingBack: "",
		change.StateRolledBack: notify.KindRolledBack, change.StateReverted: "", change.StateFailed: notify.KindFailed, change.StateSkipped: "",
	}
	for _, s := range change.AllStates {
		k, ok := want[s]
		if !ok {
			t.Errorf("state %s: decide which alert a transition into it raises (alertKind) and list it here", s)
			continue
		}
		if got := alertKind(s); got != k {
			t.Errorf("alertKind(%s) = %q, want %q", s, got, k)
		}
	}
}

// TestTransitionKinds: leaving the production watch for a rollback or a
// failure is a watch regression; a failure by drift found in pre-flight is
// drift; other failures and rollbacks keep their state's event.
func TestTransitionKinds(t *testing.T) {
	t.Parallel()
	drift := "pre-flight of version 3 incomplete: applied on c1; not applied on m1: wave 1 (100%) not applied: pre-flight on m1: drift: schema drift: public.items: column extra integer on m1, not on the canary before the change"
	for _, tc := range []struct {
		tr   change.Transition
		want notify.Kind
	}{
		{change.Transition{From: change.StateWatching, To: change.StateRollingBack, Reason: "the production watch failed its judgement"}, notify.KindWatchRegression},
		{change.Transition{From: change.StateWatching, To: change.StateFailed}, notify.KindWatchRegression},
		{change.Transition{From: change.StateWatching, To: change.StateDone}, notify.KindDone},
		{change.Transition{From: change.StatePromoting, To: change.StateFailed, Reason: drift}, notify.KindDrift},
		{change.Transition{From: change.StatePromoting, To: change.StateFailed, Reason: "pre-flight on m1: data: the change would fail"}, notify.KindFailed},
		{change.Transition{From: change.StateBaking, To: change.StateRollingBack}, ""},
		{change.Transition{From: change.StateDiscovered, To: change.StateDone, Reason: "every instance holds it"}, ""},
	} {
		if got := transitionKind(&tc.tr); got != tc.want {
			t.Errorf("%s → %s (%q): %q, want %q", tc.tr.From, tc.tr.To, tc.tr.Reason, got, tc.want)
		}
	}
}

// TestAwaitingApprovalAlertReachesTheReceiver: a change that waits for an
// approval produces a signed alert at a real HTTP receiver, through the
// Dispatcher the daemon uses.
func TestAwaitingApprovalAlertReachesTheReceiver(t *testing.T) {
	t.Parallel()
	key := []byte("alert-hmac-key")
	bodies := make(chan []byte, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify(key, r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature), body, time.Now(), 0); err != nil {
			t.Errorf("receiver: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		bodies <- body
	}))
	defer srv.Close()
	d, err := notify.New([]notify.Sink{{Name: "ops", URL: srv.URL, Secret: key}}, notify.WithStatusURL("https://canary.example.com/"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = d.Run(ctx) }()

	w := newFakeWorld(t, WithNotifier(d))
	w.src.merge(t, "migrations/00001_risky.sql", migrationtest.Source(9, "ALTER TABLE t ADD COLUMN x int;", "ALTER TABLE t DROP COLUMN x;"))
	w.reconcile(t)
	if got := w.state(t, 1); got != change.StateAwaitingApproval {
		t.Fatalf("state %s, want awaiting_approval", got)
	}
	select {
	case b := <-bodies:
		var e struct {
			notify.Event
			Summary string `json:"summary"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		if e.Kind != notify.KindAwaitingApproval || e.Version != 1 || e.State != "awaiting_approval" ||
			e.Link != "https://canary.example.com/changes/1" || !strings.Contains(e.Summary, "awaits approval: confidence 0.40 < threshold 0.80") {
			t.Errorf("alert %s", b)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no alert within 15s")
	}
}

// TestHangingAlertReceiverDoesNotHoldThePipeline: with a receiver that
// never answers, a change still goes all the way to done.
func TestHangingAlertReceiverDoesNotHoldThePipeline(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	d, err := notify.New([]notify.Sink{{Name: "ops", URL: srv.URL, Secret: []byte("k"), Timeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = d.Run(ctx) }()

	w := newFakeWorld(t, WithNotifier(d))
	w.src.merge(t, "migrations/00001_safe.sql", migrationtest.Source(2, "CREATE TABLE t (id int);", "DROP TABLE t;"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.reconcile(t)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the reconcile pass is stuck behind the alert receiver")
	}
	if got := w.state(t, 1); got != change.StateDone {
		t.Errorf("state %s, want done", got)
	}
}
