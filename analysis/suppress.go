package analysis

import (
	"strings"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// Suppression comments, on the line(s) right before a statement:
//
//	-- schemacanary:ignore <rule-id>[, <rule-id>...] <reason>
//	-- schemacanary:ignore-file <rule-id>[, ...] <reason>
//
// Squawk's "-- squawk-ignore" and "-- squawk-ignore-file" are honoured too,
// so files already annotated for Squawk lint the same way.
const (
	ignoreDirective     = "schemacanary:ignore"
	ignoreFileDirective = "schemacanary:ignore-file"
)

type directive struct {
	line   int
	ids    []string
	file   bool
	reason string
	squawk bool
}

// suppressions holds the ignore directives of one file.
type suppressions struct {
	lines           []string
	byLine          map[int]directive
	file            map[string]directive
	directives      []directive
	noReason        []directive // schemacanary directives without a reason (ignored)
	disableAssumeTx bool
}

// newSuppressions reads the comments of src (1-based lines). Comments are
// found with the PostgreSQL scanner, so "--" inside strings never counts;
// when the file does not scan, comment-only lines are used.
func newSuppressions(src string) *suppressions {
	s := &suppressions{lines: strings.Split(src, "\n"), byLine: map[int]directive{}, file: map[string]directive{}}
	var comments []struct {
		text string
		line int
	}
	if !strings.Contains(src, "ignore") && !strings.Contains(src, "squawk-disable") {
		return s // no directive can be there: skip scanning
	}
	if res, err := pgast.Scan(src); err == nil {
		nl := newNewlineIndex(src)
		for _, t := range res.Tokens {
			if t.Token == pgast.Token_SQL_COMMENT && int(t.End) <= len(src) {
				comments = append(comments, struct {
					text string
					line int
				}{src[t.Start:t.End], nl.line(int(t.Start))})
			}
		}
	} else {
		for i, l := range s.lines {
			if tl := strings.TrimSpace(l); strings.HasPrefix(tl, "--") {
				comments = append(comments, struct {
					text string
					line int
				}{tl, i + 1})
			}
		}
	}
	for _, c := range comments {
		body := strings.TrimSpace(strings.TrimPrefix(c.text, "--"))
		if body == "squawk-disable-assume-in-transaction" {
			s.disableAssumeTx = true
			continue
		}
		var rest string
		d := directive{line: c.line}
		switch {
		case cutPrefix(body, ignoreFileDirective, &rest):
			d.file = true
		case cutPrefix(body, "squawk-ignore-file", &rest):
			d.file, d.squawk = true, true
		case cutPrefix(body, ignoreDirective, &rest):
		case cutPrefix(body, "squawk-ignore", &rest):
			d.squawk = true
		default:
			continue
		}
		d.ids, d.reason = directiveIDs(rest)
		s.directives = append(s.directives, d)
		if d.reason == "" && !d.squawk {
			// A silenced hazard must say why: reviewers read the reason.
			s.noReason = append(s.noReason, d)
			continue
		}
		if d.squawk && d.reason == "" {
			d.reason = "(squawk-ignore without a reason)"
		}
		if d.file {
			for _, id := range d.ids {
				s.file[id] = d
			}
		} else {
			s.byLine[c.line] = d
		}
	}
	return s
}

// directiveIDs reads "id[, id...] reason words": the ids are the leading
// comma-separated list; the first word not preceded by a comma starts the
// reason (which may itself contain commas).
func directiveIDs(rest string) (ids []string, reason string) {
	fields := strings.Fields(rest)
	for i, tok := range fields {
		more := strings.HasSuffix(tok, ",")
		for _, id := range strings.Split(strings.Trim(tok, ","), ",") {
			if id != "" {
				ids = append(ids, id)
			}
		}
		if !more {
			return ids, strings.Join(fields[i+1:], " ")
		}
	}
	return ids, ""
}

func cutPrefix(s, prefix string, rest *string) bool {
	if !strings.HasPrefix(s, prefix) {
		return false
	}
	r := s[len(prefix):]
	if r != "" && r[0] != ' ' && r[0] != '\t' {
		return false
	}
	*rest = r
	return true
}

// aliases maps Squawk's combined rule names onto ours.
var aliases = map[string][]string{
	"require-timeout-settings": {"require-lock-timeout", "require-statement-timeout"},
	"prefer-timestamptz":       {"prefer-timestamp-tz"},
}

func matches(ids []string, id string) bool {
	for _, x := range ids {
		if x == id || x == "all" {
			return true
		}
		for _, a := range aliases[x] {
			if a == id {
				return true
			}
		}
	}
	return false
}

// suppressed reports whether rule id is ignored for a statement starting at
// line (0 = migration-level: only file directives apply), and the
// directive that ignores it.
func (s *suppressions) suppressed(id string, line int) (directive, bool) {
	if s == nil {
		return directive{}, false
	}
	for x, d := range s.file {
		if matches([]string{x}, id) {
			return d, true
		}
	}
	for l := line - 1; l >= 1 && l <= len(s.lines); l-- {
		if d, ok := s.byLine[l]; ok && matches(d.ids, id) {
			return d, true
		}
		tl := strings.TrimSpace(s.lines[l-1])
		if tl != "" && !strings.HasPrefix(tl, "--") {
			break
		}
	}
	return directive{}, false
}

// unknownIDs returns directives naming rules that do not exist.
func (s *suppressions) unknown() []struct {
	line int
	id   string
} {
	var out []struct {
		line int
		id   string
	}
	for _, d := range s.directives {
		for _, id := range d.ids {
			if _, ok := ruleByID(id); ok || id == "all" {
				continue
			}
			if _, ok := aliases[id]; ok {
				continue
			}
			out = append(out, struct {
				line int
				id   string
			}{d.line, id})
		}
	}
	return out
}

// certainFailures returns directives naming rules of ClassFails, which no
// comment can silence ("all" is not counted: it silences the others).
func (s *suppressions) certainFailures() []struct {
	line int
	id   string
} {
	var out []struct {
		line int
		id   string
	}
	for _, d := range s.directives {
		for _, id := range d.ids {
			if r, ok := ruleByID(id); ok && r.Class == ClassFails {
				out = append(out, struct {
					line int
					id   string
				}{d.line, id})
			}
		}
	}
	return out
}

// newlineIndex maps byte offsets to 1-based lines.
type newlineIndex []int

func newNewlineIndex(src string) newlineIndex {
	var idx newlineIndex
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			idx = append(idx, i)
		}
	}
	return idx
}

func (n newlineIndex) line(off int) int {
	lo, hi := 0, len(n)
	for lo < hi {
		mid := (lo + hi) / 2
		if n[mid] < off {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo + 1
}
