package analysis

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// walkDo analyzes the SQL a PL/pgSQL DO block runs: static statements and
// EXECUTE of a string literal. The body is parsed with the PL/pgSQL parser
// (pgast.ParsePlPgSqlToJSON) by wrapping it in a function definition.
func (w *walker) walkDo(p parsedStmt, do *pgast.DoStmt) {
	var body, lang string
	for _, a := range do.Args {
		de := a.GetDefElem()
		if de == nil || de.Arg.GetString_() == nil {
			continue
		}
		switch de.Defname {
		case "as":
			body = de.Arg.GetString_().Sval
		case "language":
			lang = lower(de.Arg.GetString_().Sval)
		}
	}
	if body == "" || (lang != "" && lang != "plpgsql") {
		return
	}
	tag := "$schemacanary$"
	for strings.Contains(body, tag) {
		tag = "$" + strings.Trim(tag, "$") + "x$"
	}
	out, err := parser.ParsePlPgSqlToJSON("CREATE FUNCTION schemacanary_do() RETURNS void LANGUAGE plpgsql AS " + tag + body + tag)
	if err != nil {
		return
	}
	var tree any
	if json.Unmarshal([]byte(out), &tree) != nil {
		return
	}
	// Line of the body's first line within the file.
	bodyLine := p.line
	if i := strings.Index(p.sql, body); i >= 0 {
		bodyLine += strings.Count(p.sql[:i], "\n")
	}
	qs := embeddedSQL(tree)
	sort.SliceStable(qs, func(i, j int) bool { return qs[i].lineno < qs[j].lineno })
	for _, q := range qs {
		res, err := pgast.Parse(q.sql)
		if err != nil {
			continue
		}
		line := bodyLine
		if q.lineno > 0 {
			line = bodyLine + q.lineno - 1
		}
		for _, raw := range res.Stmts {
			w.add(parsedStmt{node: raw.Stmt, sql: strings.TrimSpace(q.sql), line: line, col: 1}, true)
		}
	}
}

type plsql struct {
	sql    string
	lineno int
}

// embeddedSQL walks a PL/pgSQL JSON tree for statements it runs.
func embeddedSQL(n any) []plsql {
	var out []plsql
	switch v := n.(type) {
	case []any:
		for _, x := range v {
			out = append(out, embeddedSQL(x)...)
		}
	case map[string]any:
		if st, ok := v["PLpgSQL_stmt_execsql"].(map[string]any); ok {
			if q := exprQuery(st["sqlstmt"]); q != "" {
				out = append(out, plsql{q, lineno(st)})
			}
		}
		if st, ok := v["PLpgSQL_stmt_dynexecute"].(map[string]any); ok {
			if lit := stringLiteral(exprQuery(st["query"])); lit != "" {
				out = append(out, plsql{lit, lineno(st)})
			}
		}
		for _, x := range v {
			out = append(out, embeddedSQL(x)...)
		}
	}
	return out
}

func exprQuery(n any) string {
	m, _ := n.(map[string]any)
	e, _ := m["PLpgSQL_expr"].(map[string]any)
	q, _ := e["query"].(string)
	return q
}

func lineno(m map[string]any) int {
	f, _ := m["lineno"].(float64)
	return int(f)
}

// stringLiteral returns the value of expr when it is one string constant
// (EXECUTE 'ALTER TABLE ...'), parsed by the PostgreSQL parser.
func stringLiteral(expr string) string {
	if expr == "" {
		return ""
	}
	res, err := pgast.Parse("SELECT " + expr)
	if err != nil || len(res.Stmts) != 1 {
		return ""
	}
	sel := res.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil || len(sel.TargetList) != 1 {
		return ""
	}
	c := sel.TargetList[0].GetResTarget().GetVal().GetAConst()
	if c == nil || c.GetSval() == nil {
		return ""
	}
	return c.GetSval().Sval
}
