package analysis

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// ctxCheckEvery is how many statements Analyze parses between two looks at
// its context: about 5 ms of work, so a cancellation or a deadline stops a
// large file promptly.
const ctxCheckEvery = 256

// Analyze parses every statement of m with the PostgreSQL parser and
// reports what it does (see Report). Syntax errors are findings with rule
// "syntax-error", not errors; Analyze fails only on an invalid option
// (ErrInvalidOption), a cancelled context (it looks every few hundred
// statements, so a deadline bounds the time spent on a large file), or a
// Catalog error. Its time is linear in the number of statements
// (BenchmarkAnalyzeStatements). Without WithCatalog it does no I/O. Safe
// for concurrent use.
func Analyze(ctx context.Context, m migration.Migration, opts ...Option) (*Report, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("analyze %s: %w", m.Path, err)
	}
	r := &Report{Path: m.Path, Version: m.Version, NoTransaction: m.NoTransaction, Risk: m.FrontMatter.Risk,
		Statements: make([]StatementReport, 0, len(m.Up)+len(m.Down))}
	sup := newSuppressions(sourceText(m))
	w := newWalker(cfg, m, r, sup)
	w.plain = m.Plain
	w.ctx = ctx
	n := 0
	for _, sec := range []struct {
		name  Section
		stmts []migration.Statement
	}{{SectionUp, m.Up}, {SectionDown, m.Down}} {
		w.startSection(sec.name)
		for _, st := range sec.stmts {
			if n++; n%ctxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return nil, fmt.Errorf("analyze %s: stopped after %d of %d statements: %w", m.Path, n-1, len(m.Up)+len(m.Down), err)
				}
			}
			parsed, errs := parseChunk(st)
			for _, e := range errs {
				r.Findings = append(r.Findings, Finding{RuleID: "syntax-error", Severity: SeverityError,
					Message: e.msg, Fix: "fix the SQL", File: m.Path, Line: e.line, Column: e.col, Section: sec.name, Statement: -1})
			}
			for _, p := range parsed {
				w.add(p, false)
			}
		}
		w.finishSection()
	}
	if !cfg.disabled["unused-ignore"] {
		for _, u := range sup.unknown() {
			r.Findings = append(r.Findings, Finding{RuleID: "unused-ignore", Severity: SeverityWarning,
				Message: fmt.Sprintf("ignore comment names unknown rule %q", u.id), Fix: "use a rule id from docs/rules/",
				File: m.Path, Line: u.line, Column: 1, Statement: -1})
		}
		for _, d := range sup.noReason {
			r.Findings = append(r.Findings, Finding{RuleID: "unused-ignore", Severity: SeverityWarning,
				Message: fmt.Sprintf("ignore comment for %s gives no reason, so it silences nothing: write \"-- schemacanary:ignore %s <why>\"", strings.Join(d.ids, ", "), strings.Join(d.ids, ", ")),
				Fix:     "say why the hazard is acceptable after the rule ids", File: m.Path, Line: d.line, Column: 1, Statement: -1})
		}
		for _, u := range sup.certainFailures() {
			r.Findings = append(r.Findings, Finding{RuleID: "unused-ignore", Severity: SeverityWarning,
				Message: fmt.Sprintf("ignore comment names %q, a certain failure (PostgreSQL rejects the change as written): it cannot be ignored", u.id),
				Fix:     "fix the statement instead", File: m.Path, Line: u.line, Column: 1, Statement: -1})
		}
	}
	summarize(r)
	r.Schemas = uniqSorted(w.schemas)
	w.reversibility()
	if w.catErr != nil {
		return nil, fmt.Errorf("analyze %s: catalog: %w", m.Path, w.catErr)
	}
	if cfg.catalog != nil {
		if err := w.addContext(ctx); err != nil {
			return nil, fmt.Errorf("analyze %s: %w", m.Path, err)
		}
	}
	w.lateObjectRules(r.Context)
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return r, nil
}

// sourceText is the file text for comment directives: Source when given,
// otherwise the statements placed back on their lines.
func sourceText(m migration.Migration) string {
	if len(m.Source) > 0 {
		return string(m.Source)
	}
	var lines []string
	for _, st := range append(append([]migration.Statement(nil), m.Up...), m.Down...) {
		for i, l := range strings.Split(st.SQL, "\n") {
			n := st.Line + i
			for len(lines) < n {
				lines = append(lines, "")
			}
			if n >= 1 {
				lines[n-1] = l
			}
		}
	}
	return strings.Join(lines, "\n")
}

// summarize fills Tables and StrongestLock from the Up statements.
func summarize(r *Report) {
	indexes := map[string]bool{}
	for _, s := range r.Statements {
		for _, d := range s.Drops {
			if d.Kind == "index" {
				indexes[qualify(d.Schema, d.Name, "public")] = true
			}
		}
	}
	var strongest LockMode
	var tables []string
	for _, s := range r.Statements {
		if s.Section != SectionUp {
			continue
		}
		strongest = maxLock(strongest, ParseLockMode(s.Lock))
		for _, t := range s.Relations {
			if !indexes[t] {
				tables = append(tables, t)
			}
		}
	}
	r.Tables = uniqSorted(tables)
	if r.Tables == nil {
		r.Tables = []string{}
	}
	r.StrongestLock = strongest.String()
}
