package analysis

import (
	"context"
	"fmt"
)

// Analyze parses every statement of m with the PostgreSQL parser and
// reports what it does (see Report). Syntax errors are findings with rule
// "syntax-error", not errors; Analyze only fails on an invalid option, a
// cancelled context or a Catalog error. Safe for concurrent use.
func Analyze(ctx context.Context, m Migration, opts ...Option) (*Report, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("analyze %s: %w", m.Path, err)
	}
	r := &Report{Path: m.Path, Version: m.Version, NoTransaction: m.NoTransaction, Risk: m.Risk}
	for _, sec := range []struct {
		name  Section
		stmts []Statement
	}{{SectionUp, m.Up}, {SectionDown, m.Down}} {
		for _, st := range sec.stmts {
			parsed, errs := parseChunk(st)
			for _, e := range errs {
				r.Findings = append(r.Findings, Finding{RuleID: "syntax-error", Severity: SeverityError,
					Message: e.msg, File: m.Path, Line: e.line, Column: e.col, Section: sec.name, Statement: -1})
			}
			for _, p := range parsed {
				r.Statements = append(r.Statements, StatementReport{Section: sec.name, Line: p.line, Column: p.col,
					SQL: p.sql, Kind: kindOf(p.node)})
			}
		}
	}
	return r, nil
}
