package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Format is a sink's body format.
type Format string

// The body formats.
const (
	// FormatJSON posts the Event's JSON with a "summary" field added.
	FormatJSON Format = "json"
	// FormatSlack posts a Slack incoming-webhook message: "text" (the
	// summary, for notifications) and "blocks" (section blocks).
	FormatSlack Format = "slack"
)

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatJSON, FormatSlack:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: want json or slack", s)
}

// jsonBody is the json format: the event and its summary.
type jsonBody struct {
	Event
	Summary string `json:"summary"`
}

// Body renders e in format f: the exact bytes posted and signed.
func Body(f Format, e Event) ([]byte, error) {
	var v any
	switch f {
	case FormatJSON:
		v = jsonBody{Event: e, Summary: e.Summary()}
	case FormatSlack:
		v = slackMessage(e)
	default:
		return nil, fmt.Errorf("unknown format %q", f)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<" stays "<": receivers read it as written
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// SlackMessage is the body of the slack format (Slack's incoming webhooks,
// and Mattermost's or Rocket.Chat's Slack-compatible ones).
type SlackMessage struct {
	// Text is the plain summary Slack shows in notifications.
	Text string `json:"text"`
	// Blocks are the message's section blocks.
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is one Block Kit section block.
type SlackBlock struct {
	Type   string      `json:"type"`
	Text   *SlackText  `json:"text,omitempty"`
	Fields []SlackText `json:"fields,omitempty"`
}

// SlackText is a Block Kit text object.
type SlackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Slack limits: a section's text holds 3000 characters, a field 2000.
const (
	slackTextMax  = 3000
	slackFieldMax = 2000
)

// emoji marks a kind in Slack.
func emoji(k Kind) string {
	switch k {
	case KindAwaitingApproval:
		return ":raised_hand:"
	case KindCanaryStarted:
		return ":hatching_chick:"
	case KindInconclusive:
		return ":grey_question:"
	case KindWavePromoted:
		return ":arrow_forward:"
	case KindRolledBack:
		return ":rewind:"
	case KindFailed:
		return ":rotating_light:"
	case KindDrift:
		return ":warning:"
	case KindWatchRegression:
		return ":chart_with_downwards_trend:"
	case KindDone:
		return ":white_check_mark:"
	}
	return ":information_source:"
}

func slackMessage(e Event) SlackMessage {
	fields := []SlackText{field("State", e.State)}
	if e.Kind.inRollout() {
		fields = append(fields, field("Wave", e.WaveName()))
	}
	fields = append(fields, field("File", e.File))
	if e.Confidence != nil {
		fields = append(fields, field("Confidence", fmt.Sprintf("%.2f", *e.Confidence)))
	}
	if e.PR != 0 {
		fields = append(fields, field("Pull request", fmt.Sprintf("#%d", e.PR)))
	}
	fields = append(fields, field("Event", fmt.Sprintf("%s at %s", e.Kind, e.Time.UTC().Format("2006-01-02 15:04:05Z"))))
	m := SlackMessage{
		Text: e.Summary(),
		Blocks: []SlackBlock{
			{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: truncate(emoji(e.Kind)+" *"+mrkdwn(e.Summary())+"*", slackTextMax)}},
			{Type: "section", Fields: fields},
		},
	}
	if e.Link != "" {
		m.Blocks = append(m.Blocks, SlackBlock{Type: "section",
			Text: &SlackText{Type: "mrkdwn", Text: fmt.Sprintf("<%s|Status page of change %d>", e.Link, e.Version)}})
	}
	return m
}

func field(name, value string) SlackText {
	return SlackText{Type: "mrkdwn", Text: truncate("*"+name+"*\n"+mrkdwn(value), slackFieldMax)}
}

// mrkdwn escapes the three characters Slack's mrkdwn gives meaning to.
func mrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most n characters, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
