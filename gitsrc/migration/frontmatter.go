package migration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FrontMatter is the author's metadata at the top of a migration file, between
// two "-- ---" lines (see DESIGN.md). goose treats it as comments.
type FrontMatter struct {
	// Risk is the author's impact assessment, 1 (trivial) to 10 (dangerous). Required.
	Risk int `yaml:"risk" json:"risk"`
	// Owner is the owning team, optional.
	Owner string `yaml:"owner,omitempty" json:"owner,omitempty"`
	// Ticket is a tracker reference, optional.
	Ticket string `yaml:"ticket,omitempty" json:"ticket,omitempty"`
	// Bake overrides the canary bake time when non-zero.
	Bake Duration `yaml:"bake,omitempty" json:"bake,omitempty"`
	// AllowDataLoss lets a down section drop data without archiving it first.
	AllowDataLoss bool `yaml:"allow_data_loss,omitempty" json:"allow_data_loss,omitempty"`
}

// Duration is a time.Duration that reads and writes as "15m" in YAML and JSON.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string such as "90s" or "15m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// String formats the duration like time.Duration ("15m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes the duration as "15m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses a Go duration string (used by JSON).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

const frontMatterFence = "-- ---"

// yamlLine finds "line N" in yaml.v3 error messages so the position can be
// translated to the file's own line numbers.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlUnknownField matches yaml.v3's KnownFields error for an unknown key.
var yamlUnknownField = regexp.MustCompile(`^field (\S+) not found in type`)

// parseFrontMatter reads the front-matter block at the very top of src. It
// returns found=false (and no error) when the file does not start with the
// fence. end is the 1-based line number of the closing fence.
func parseFrontMatter(file string, src []byte) (fm FrontMatter, found bool, end int, err error) {
	lines := strings.Split(string(src), "\n")
	if len(lines) == 0 || strings.TrimRight(lines[0], " \t\r") != frontMatterFence {
		return fm, false, 0, nil
	}
	var body bytes.Buffer
	for i := 1; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], " \t\r")
		if i == len(lines)-1 && line == "" {
			break // the empty string after the final newline
		}
		if line == frontMatterFence {
			end = i + 1
			break
		}
		if !strings.HasPrefix(line, "--") {
			return fm, true, 0, Errorf(file, i+1, ErrFrontMatter, "front-matter line must start with \"-- \" (closing \"-- ---\" missing?)")
		}
		rest := strings.TrimPrefix(line, "--")
		rest = strings.TrimPrefix(rest, " ")
		body.WriteString(rest)
		body.WriteByte('\n')
	}
	if end == 0 {
		return fm, true, 0, Errorf(file, 1, ErrFrontMatter, "front matter opened with \"-- ---\" is never closed")
	}
	dec := yaml.NewDecoder(&body)
	dec.KnownFields(true)
	if err := dec.Decode(&fm); err != nil && !errors.Is(err, io.EOF) {
		return fm, true, end, Errorf(file, yamlErrLine(err, 1), ErrFrontMatter, "%s", yamlErrMsg(err))
	}
	if fm.Risk == 0 && riskLine(lines[:end]) == 0 {
		return fm, true, end, Errorf(file, 1, ErrFrontMatter, "risk is required (integer 1..10)")
	}
	if fm.Risk < 1 || fm.Risk > 10 {
		return fm, true, end, Errorf(file, riskLine(lines[:end]), ErrFrontMatter, "risk %d is out of range 1..10", fm.Risk)
	}
	return fm, true, end, nil
}

// yamlErrLine maps a yaml.v3 error's "line N" (1-based within the block) to
// the file line, given that block line 1 is file line offset+1.
func yamlErrLine(err error, offset int) int {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return offset
	}
	n, _ := strconv.Atoi(m[1])
	return n + offset
}

// yamlErrMsg strips yaml.v3's "yaml: " prefixes and rewrites its block-relative
// line numbers away (the MigrationError carries the file line).
func yamlErrMsg(err error) string {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "yaml: unmarshal errors:\n  ", "")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = yamlLine.ReplaceAllString(msg, "")
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, ": :", ":")), " ")
	msg = strings.TrimPrefix(msg, ": ")
	if m := yamlUnknownField.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown key %q (known: risk, owner, ticket, bake, allow_data_loss)", m[1])
	}
	return msg
}

// riskLine returns the 1-based line of the "risk:" key, 0 when absent.
func riskLine(lines []string) int {
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "--")), "risk:") {
			return i + 1
		}
	}
	return 0
}
