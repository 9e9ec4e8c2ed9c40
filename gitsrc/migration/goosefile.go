package migration

import (
	"bufio"
	"bytes"
	"strings"
)

// Statement is one SQL statement of a migration section, split exactly as
// goose splits it, with the 1-based file line where it starts.
type Statement struct {
	SQL  string `json:"sql"`
	Line int    `json:"line"`
}

// Sections are the statements of a goose SQL file. goose splits on a
// semicolon at the end of a line, except inside StatementBegin/End blocks.
type Sections struct {
	Up   []Statement `json:"up"`
	Down []Statement `json:"down"`
	// HasDown is false when the file has no "-- +goose Down" annotation.
	HasDown bool `json:"has_down"`
	// UpLine and DownLine are the lines of the annotations (0 when absent).
	UpLine   int `json:"up_line"`
	DownLine int `json:"down_line"`
	// NoTransaction is set by "-- +goose NO TRANSACTION".
	NoTransaction bool `json:"no_transaction"`
	// Envsub is set when the file turns on "-- +goose ENVSUB ON"; the
	// statements here are the raw text before goose's substitution.
	Envsub bool `json:"envsub,omitempty"`
}

type gooseState int

const (
	stStart gooseState = iota
	stUp
	stBeginUp
	stEndUp
	stDown
	stBeginDown
	stEndDown
)

func (s gooseState) down() bool { return s == stDown || s == stBeginDown || s == stEndDown }

// ParseSections splits a goose SQL file into its Up and Down statements. It
// follows goose v3's own parser line by line, so that whatever goose would
// refuse is refused here with the line, and whatever goose would run is what
// is returned. Lines before "-- +goose Up" (front matter included) are
// comments to goose and are skipped.
func ParseSections(file string, src []byte) (*Sections, error) {
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(nil, 4*1024*1024)
	var (
		out       Sections
		state     = stStart
		buf       strings.Builder
		startLine int
		lineNo    int
	)
	emit := func() {
		st := Statement{SQL: strings.TrimSpace(buf.String()), Line: startLine}
		if state.down() {
			out.Down = append(out.Down, st)
		} else {
			out.Up = append(out.Up, st)
		}
		buf.Reset()
	}
	for sc.Scan() {
		line := sc.Text()
		lineNo++
		if state == stStart && strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "--") && strings.Contains(line, "+goose") {
			ann, err := gooseAnnotation(line)
			if err != nil {
				return nil, Errorf(file, lineNo, ErrGooseSyntax, "%s", err)
			}
			switch ann {
			case "Up":
				if state != stStart {
					return nil, Errorf(file, lineNo, ErrGooseSyntax, "duplicate '-- +goose Up' annotation")
				}
				state, out.UpLine = stUp, lineNo
				continue
			case "Down":
				if state != stUp && state != stEndUp {
					if state == stStart {
						return nil, Errorf(file, lineNo, ErrGooseSyntax, "'-- +goose Down' before '-- +goose Up'")
					}
					return nil, Errorf(file, lineNo, ErrGooseSyntax, "'-- +goose Down' inside a StatementBegin block or after another Down")
				}
				if rest := strings.TrimSpace(buf.String()); rest != "" {
					return nil, Errorf(file, startLine, ErrGooseSyntax, "unfinished statement before '-- +goose Down': missing semicolon?")
				}
				buf.Reset()
				state, out.HasDown, out.DownLine = stDown, true, lineNo
				continue
			case "StatementBegin":
				switch state {
				case stUp, stEndUp:
					state = stBeginUp
				case stDown, stEndDown:
					state = stBeginDown
				default:
					return nil, Errorf(file, lineNo, ErrGooseSyntax, "'-- +goose StatementBegin' must follow '-- +goose Up' or '-- +goose Down' and not nest")
				}
				continue
			case "StatementEnd":
				switch state {
				case stBeginUp:
					state = stEndUp
				case stBeginDown:
					state = stEndDown
				default:
					return nil, Errorf(file, lineNo, ErrGooseSyntax, "'-- +goose StatementEnd' without a StatementBegin")
				}
			case "NO TRANSACTION":
				out.NoTransaction = true
				continue
			case "ENVSUB ON":
				out.Envsub = true
				continue
			case "ENVSUB OFF":
				continue
			}
		}
		if buf.Len() == 0 && (strings.HasPrefix(strings.TrimSpace(line), "--") || line == "") {
			continue
		}
		if state == stStart {
			return nil, Errorf(file, lineNo, ErrGooseSyntax, "SQL before '-- +goose Up'")
		}
		if state != stEndUp && state != stEndDown {
			if buf.Len() == 0 {
				startLine = lineNo
			}
			buf.WriteString(line)
			buf.WriteByte('\n')
		}
		switch state {
		case stUp, stDown:
			if endsWithSemicolon(line) {
				emit()
			}
		case stEndUp, stEndDown:
			// goose swallows the first line after an empty
			// StatementBegin/End block and emits an empty statement;
			// mirror it, pointing at the swallowed line.
			if buf.Len() == 0 {
				startLine = lineNo
			}
			emit()
			if state == stEndUp {
				state = stUp
			} else {
				state = stDown
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, Errorf(file, lineNo, ErrGooseSyntax, "read: %v", err)
	}
	switch state {
	case stStart:
		return nil, Errorf(file, 1, ErrGooseSyntax, "no '-- +goose Up' annotation")
	case stBeginUp, stBeginDown:
		return nil, Errorf(file, startLine, ErrGooseSyntax, "missing '-- +goose StatementEnd'")
	}
	if strings.TrimSpace(buf.String()) != "" {
		return nil, Errorf(file, startLine, ErrGooseSyntax, "unfinished statement: missing semicolon?")
	}
	return &out, nil
}

// gooseAnnotation extracts the command of a "-- +goose CMD" line the way goose
// does: no leading whitespace, one +goose, a known command (case-insensitive).
func gooseAnnotation(line string) (string, error) {
	if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
		return "", errorString("annotation has leading whitespace")
	}
	cmd := strings.ReplaceAll(line, "--", "")
	cmd = strings.Replace(cmd, "+goose", "", 1)
	if strings.Contains(cmd, "+goose") {
		return "", errorString("more than one +goose on the line")
	}
	cmd = strings.TrimSpace(cmd)
	if cmd == "" {
		return "", errorString("empty +goose annotation")
	}
	for _, known := range []string{"Up", "Down", "StatementBegin", "StatementEnd", "NO TRANSACTION", "ENVSUB ON", "ENVSUB OFF"} {
		if strings.EqualFold(known, cmd) {
			return known, nil
		}
	}
	return "", errorString("unknown annotation " + `"` + cmd + `"`)
}

type errorString string

func (e errorString) Error() string { return string(e) }

// endsWithSemicolon reports whether the last word before any "--" comment
// ends with ";", as goose decides where a statement ends.
func endsWithSemicolon(line string) bool {
	prev := ""
	for _, word := range strings.Fields(line) {
		if strings.HasPrefix(word, "--") {
			break
		}
		prev = word
	}
	return strings.HasSuffix(prev, ";")
}
