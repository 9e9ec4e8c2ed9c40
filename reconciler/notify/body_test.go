package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestSlackBody: a slack sink posts {"text", "blocks"} with section blocks
// (mrkdwn escaped, the status link last) to a real receiver, signed when a
// secret is set.
func TestSlackBody(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, testSecret)
	d := newDispatcher(t, []Sink{{Name: "slack", URL: rcv.srv.URL, Format: FormatSlack, Secret: []byte(testSecret)}},
		WithStatusURL("https://canary.example.com"))
	start(t, d)
	d.Notify(event(KindRolledBack, 16))
	got := rcv.wait(t)
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields []struct{ Type, Text string } `json:"fields"`
		} `json:"blocks"`
	}
	dec := json.NewDecoder(strings.NewReader(string(got.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msg); err != nil {
		t.Fatalf("slack body %s: %v", got.body, err)
	}
	if !strings.HasPrefix(msg.Text, "Change 16 (migrations/00016_x.sql) was rolled back") {
		t.Errorf("text = %q", msg.Text)
	}
	if len(msg.Blocks) != 3 {
		t.Fatalf("blocks = %d, want 3: %s", len(msg.Blocks), got.body)
	}
	for i, b := range msg.Blocks {
		if b.Type != "section" {
			t.Errorf("block %d type %q", i, b.Type)
		}
	}
	head := msg.Blocks[0].Text
	if head == nil || head.Type != "mrkdwn" || !strings.Contains(head.Text, ":rewind:") ||
		!strings.Contains(head.Text, "because &lt;reasons&gt; &amp; more") || !strings.Contains(msg.Text, "because <reasons> & more") {
		t.Errorf("head block %+v", head)
	}
	fields := map[string]bool{}
	for _, f := range msg.Blocks[1].Fields {
		fields[strings.SplitN(f.Text, "\n", 2)[0]] = true
	}
	for _, want := range []string{"*State*", "*Wave*", "*File*", "*Confidence*", "*Pull request*", "*Event*"} { // rolled back: a wave
		if !fields[want] {
			t.Errorf("no field %s in %+v", want, msg.Blocks[1].Fields)
		}
	}
	if link := msg.Blocks[2].Text; link == nil || link.Text != "<https://canary.example.com/changes/16|Status page of change 16>" {
		t.Errorf("link block %+v", link)
	}
}

// TestSlackBodyLimits: a long reason is cut to Slack's 3000 characters.
func TestSlackBodyLimits(t *testing.T) {
	t.Parallel()
	e := Event{Kind: KindFailed, Version: 1, File: "f.sql", Reason: strings.Repeat("é", 5000), Time: time.Now()}
	b, err := Body(FormatSlack, e)
	if err != nil {
		t.Fatal(err)
	}
	var msg SlackMessage
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(msg.Blocks[0].Text.Text)); n != slackTextMax {
		t.Errorf("head block has %d characters, want %d", n, slackTextMax)
	}
}

// TestSummaries: every kind has its own sentence.
func TestSummaries(t *testing.T) {
	t.Parallel()
	seen := map[string]Kind{}
	for _, k := range AllKinds() {
		s := Event{Kind: k, Version: 9, File: "m.sql", Wave: 2}.Summary()
		if prev, dup := seen[s]; dup {
			t.Errorf("%s and %s share the summary %q", prev, k, s)
		}
		seen[s] = k
		if !strings.HasPrefix(s, "Change 9 (m.sql)") {
			t.Errorf("%s: %q", k, s)
		}
	}
	if s := (Event{Kind: KindWavePromoted, Version: 1, File: "m.sql", Wave: 2}).Summary(); !strings.Contains(s, "promoting wave 2") {
		t.Errorf("wave summary %q", s)
	}
	if _, err := ParseKind("drift"); err != nil {
		t.Error(err)
	}
	if _, err := ParseKind("nope"); err == nil || !strings.Contains(err.Error(), "watch_regression") {
		t.Errorf("ParseKind(nope) = %v", err)
	}
}
