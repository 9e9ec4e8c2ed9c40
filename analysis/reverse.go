package analysis

import (
	"fmt"
	"strings"
)

// inertKinds do nothing a Down section could undo with (SELECT 'not
// supported', SET, transaction control).
var inertKinds = map[string]bool{"select": true, "set": true, "transaction": true, "variable_show": true, "notify": true}

// reversibility judges the Down section: missing or inert (Irreversible),
// dropping tables or columns (LossyDown, DownDrops), or not undoing what Up
// did (NotInverse). Plain SQL files are not judged.
func (w *walker) reversibility() {
	r, m := w.rep, w.m
	if m.Plain {
		return
	}
	var up, down []*StatementReport
	for i := range r.Statements {
		if s := &r.Statements[i]; s.Section == SectionUp {
			up = append(up, s)
		} else {
			down = append(down, s)
		}
	}
	meaningful := false
	for _, s := range down {
		if !inertKinds[s.Kind] {
			meaningful = true
		}
	}
	downLine := 1
	if len(m.Down) > 0 {
		downLine = m.Down[0].Line
	} else if len(m.Up) > 0 {
		downLine = m.Up[len(m.Up)-1].Line
	}
	w.sec = SectionDown
	if !m.HasDown || !meaningful {
		r.Irreversible = true
		why := "the file has no \"-- +goose Down\" section"
		if m.HasDown {
			why = "the Down section does nothing"
		}
		w.reportAt("irreversible-migration", downLine, "%s: a failed canary cannot be rolled back, only fixed forward", why)
	}
	for _, s := range down {
		for _, d := range s.Drops {
			switch d.Kind {
			case "table":
				r.DownDrops = append(r.DownDrops, DropTarget{Schema: d.Schema, Table: d.Table})
			case "column":
				r.DownDrops = append(r.DownDrops, DropTarget{Schema: d.Schema, Table: d.Table, Column: d.Name})
			}
		}
	}
	r.LossyDown = len(r.DownDrops) > 0
	if r.LossyDown && !m.FrontMatter.AllowDataLoss {
		var names []string
		for _, d := range r.DownDrops {
			n := d.Schema + "." + d.Table
			if d.Column != "" {
				n += "." + d.Column
			}
			names = append(names, n)
		}
		w.reportAt("lossy-down", downLine, "the Down section drops %s; data written after Up is archived to schemacanary_archive before a rollback", strings.Join(names, ", "))
	}
	if r.Irreversible {
		return
	}
	dropped := map[string]bool{}
	created := map[string]bool{}
	for _, s := range down {
		for _, d := range s.Drops {
			dropped[objKey(d)] = true
		}
		for _, c := range s.Creates {
			created[objKey(c)] = true
		}
	}
	for _, s := range up {
		for _, c := range s.Creates {
			if c.Name == "" || covered(c, dropped) {
				continue
			}
			r.NotInverse = true
			w.reportAt("down-not-inverse", s.Line, "Up creates %s; Down does not drop it", describe(c))
		}
		for _, d := range s.Drops {
			if (d.Kind != "table" && d.Kind != "column") || created[objKey(d)] {
				continue
			}
			r.NotInverse = true
			w.reportAt("down-not-inverse", s.Line, "Up drops %s; Down does not recreate it", describe(d))
		}
	}
}

// reportAt emits a migration-level finding at a line.
func (w *walker) reportAt(id string, line int, format string, args ...any) {
	if w.cfg.disabled[id] || w.ignored(id, line) {
		return
	}
	rule, _ := ruleByID(id)
	sev := rule.Severity
	if o, ok := w.cfg.severity[id]; ok {
		sev = o
	}
	w.rep.Findings = append(w.rep.Findings, Finding{RuleID: id, Severity: sev, Message: fmt.Sprintf(format, args...),
		Fix: rule.Fix, File: w.m.Path, Line: line, Column: 1, Section: w.sec, Statement: -1})
}

func schemaOr(s string) string {
	if s == "" {
		return "public"
	}
	return s
}

// objKey identifies an object across Up and Down.
func objKey(o Object) string {
	switch o.Kind {
	case "table", "view", "matview", "sequence", "foreign_table":
		return "rel|" + schemaOr(o.Schema) + "." + o.Name
	case "column":
		return "column|" + schemaOr(o.Schema) + "." + o.Table + "|" + o.Name
	case "index":
		return "index|" + schemaOr(o.Schema) + "." + o.Name
	case "constraint":
		return "constraint|" + schemaOr(o.Schema) + "." + o.Table + "|" + o.Name
	case "trigger", "policy", "rule":
		return o.Kind + "|" + o.Table + "|" + o.Name
	}
	return o.Kind + "|" + o.Name
}

// covered reports whether Down's drops undo the creation of o: the object
// itself, its table, or its schema is dropped.
func covered(o Object, dropped map[string]bool) bool {
	if dropped[objKey(o)] {
		return true
	}
	if o.Table != "" {
		tbl := o.Table
		if !strings.Contains(tbl, ".") {
			tbl = schemaOr(o.Schema) + "." + tbl
		}
		if dropped["rel|"+tbl] {
			return true
		}
	}
	if o.Schema != "" && dropped["schema|"+o.Schema] {
		return true
	}
	if o.Kind == "type" || o.Kind == "function" || o.Kind == "procedure" {
		if sch, _ := splitQualified(o.Name); sch != "" && dropped["schema|"+sch] {
			return true
		}
	}
	return false
}

func describe(o Object) string {
	switch o.Kind {
	case "column":
		return fmt.Sprintf("column %s.%s.%s", schemaOr(o.Schema), o.Table, o.Name)
	case "table", "view", "matview", "sequence", "index":
		return fmt.Sprintf("%s %s.%s", o.Kind, schemaOr(o.Schema), o.Name)
	case "constraint", "trigger":
		return fmt.Sprintf("%s %s on %s", o.Kind, o.Name, o.Table)
	}
	return o.Kind + " " + o.Name
}
