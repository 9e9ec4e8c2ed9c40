package rollout

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// TargetFileError is a target file that cannot be used: its path, the line
// (0 when unknown) and what is wrong.
type TargetFileError struct {
	Path string
	Line int
	Msg  string
}

func (e *TargetFileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("fleet.files: %s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("fleet.files: %s: %s", e.Path, e.Msg)
}

// targetFile is one target in a target file: an instance's fields, plus
// dsn in clear text (a target file that holds one is a secret).
type targetFile struct {
	InstanceConfig `yaml:",inline"`
	DSN            string `yaml:"dsn"`
}

var targetFileKeys = map[string]bool{"name": true, "dsn": true, "dsn_env": true, "dsn_file": true, "group": true, "labels": true, "data_dir": true, "schema": true}

// fileTargets reads every file matching glob, in lexical order. A file
// holds one target (a mapping) or a list of them. A glob matching no file
// is an empty source, not an error: targets come and go.
func fileTargets(glob string, secrets func(string)) ([]Instance, error) {
	paths, err := filepath.Glob(glob)
	if err != nil {
		return nil, &TargetFileError{Path: glob, Msg: err.Error()}
	}
	sort.Strings(paths)
	var out []Instance
	var errs []error
	for _, p := range paths {
		ins, ferrs := readTargetFile(p, secrets)
		out = append(out, ins...)
		errs = append(errs, ferrs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// readTargetFile parses one target file.
func readTargetFile(path string, secrets func(string)) ([]Instance, []error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{&TargetFileError{Path: path, Msg: err.Error()}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, []error{&TargetFileError{Path: path, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if len(doc.Content) == 0 {
		return nil, []error{&TargetFileError{Path: path, Msg: "empty file: want a target (name, dsn or dsn_env or dsn_file, group, labels) or a list of them"}}
	}
	root := doc.Content[0]
	items := []*yaml.Node{root}
	if root.Kind == yaml.SequenceNode {
		items = root.Content
	}
	var out []Instance
	var errs []error
	for _, n := range items {
		in, err := targetFromNode(path, n)
		secrets(in.DSN)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, in)
	}
	return out, errs
}

// targetFromNode decodes and checks one target.
func targetFromNode(path string, n *yaml.Node) (Instance, error) {
	bad := func(line int, format string, args ...any) error {
		return &TargetFileError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if n.Kind != yaml.MappingNode {
		return Instance{}, bad(n.Line, "a target is a mapping (name, dsn or dsn_env or dsn_file, group, labels, data_dir, schema)")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !targetFileKeys[k.Value] {
			return Instance{}, bad(k.Line, "unknown field %q", k.Value)
		}
	}
	var t targetFile
	if err := n.Decode(&t); err != nil {
		return Instance{}, bad(n.Line, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	src := fmt.Sprintf("%s:%d", path, n.Line)
	refs := 0
	for _, s := range []string{t.DSN, t.DSNEnv, t.DSNFile} {
		if s != "" {
			refs++
		}
	}
	switch {
	case strings.TrimSpace(t.Name) == "":
		return Instance{}, bad(n.Line, "name is required")
	case refs != 1:
		return Instance{}, bad(n.Line, "%s: exactly one of dsn, dsn_env or dsn_file is required", t.Name)
	}
	if err := checkSchemaName(t.Schema); err != nil {
		return Instance{}, bad(n.Line, "%s: %v", t.Name, err)
	}
	in := Instance{Name: strings.TrimSpace(t.Name), Group: t.Group, DSN: strings.TrimSpace(t.DSN), Labels: t.Labels, DataDir: t.DataDir, Schema: t.Schema, Source: src}
	if in.DSN == "" {
		dsn, err := readRef(t.DSNEnv, t.DSNFile)
		if err != nil {
			return in, fmt.Errorf("%s %s: %w: %w", src, in.Name, ErrDSN, err)
		}
		in.DSN = dsn
	}
	if in.Group == "" {
		in.Group = DefaultGroup
	}
	return in, nil
}
