package analysis

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// PlanChange is a workload statement whose plan, as the real planner
// estimates it, the change alters: built with the hypopg extension (a
// hypothetical index for CREATE INDEX, a hidden index for DROP INDEX) and
// EXPLAIN of the statement's generic plan, never touching a table.
type PlanChange struct {
	WorkloadStatement
	// Change is the index change that alters the plan.
	Change string `json:"change"`
	// CostBefore and CostAfter are the planner's total cost estimates;
	// Ratio is CostAfter/CostBefore.
	CostBefore float64 `json:"cost_before"`
	CostAfter  float64 `json:"cost_after"`
	Ratio      float64 `json:"ratio"`
	// NodesBefore and NodesAfter are the plan's scans of the touched
	// tables ("Index Scan using orders_customer_idx on orders").
	NodesBefore string `json:"nodes_before"`
	NodesAfter  string `json:"nodes_after"`
}

// PlanRegressionRatio is the estimated cost rise from which a plan change
// of a statement that runs at least PlanRegressionCallsPerSec lowers the
// confidence.
const (
	PlanRegressionRatio       = 10
	PlanRegressionCallsPerSec = 1
)

// Regression reports whether the change makes this statement at least
// PlanRegressionRatio times more expensive while it runs often.
func (p PlanChange) Regression() bool {
	return p.Ratio >= PlanRegressionRatio && p.CallsPerSec >= PlanRegressionCallsPerSec
}

// planApplicationName marks the plan check's session in pg_stat_activity.
const planApplicationName = "schemacanary plan check"

// indexChanges are the Up statements' index changes as hypopg calls.
type indexChange struct {
	name  string // the index's declared name
	desc  string // shown in reports
	sql   string // a CREATE INDEX for hypopg_create_index, or "" to hide
	hide  string // an index name for hypopg_hide_index
	ahead bool   // it indexes what the migration creates first (StatementReport.AheadOfTarget)
}

func indexChangesOf(rep *Report) []indexChange {
	var out []indexChange
	for _, s := range rep.Statements {
		if s.Section != SectionUp {
			continue
		}
		if s.Kind == "create_index" {
			ic := indexChange{desc: oneLine(s.SQL), sql: withoutConcurrently(s.SQL), ahead: s.AheadOfTarget}
			for _, c := range s.Creates {
				if c.Kind == "index" {
					ic.name = c.Name
				}
			}
			out = append(out, ic)
		}
		for _, d := range s.Drops {
			if d.Kind == "index" {
				out = append(out, indexChange{desc: "DROP INDEX " + qualify(d.Schema, d.Name, "public"), hide: qualify(d.Schema, d.Name, "public")})
			}
		}
	}
	return out
}

// withoutConcurrently drops the CONCURRENTLY keyword (hypopg builds
// nothing, so it means nothing there) using the scanner.
func withoutConcurrently(sql string) string {
	res, err := pgast.Scan(sql)
	if err != nil {
		return sql
	}
	for _, t := range res.Tokens {
		if t.Token == pgast.Token_CONCURRENTLY {
			return sql[:t.Start] + sql[t.End:]
		}
	}
	return sql
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// planCheck compares the generic plans of the workload's SELECT
// statements on the touched tables before and after the Up section's
// index changes, on a session of its own (hypopg state and prepared
// statements are session-local and die with it). It takes only the ACCESS
// SHARE locks of planning a SELECT. status is one of the Check* values.
func (t *Target) planCheck(ctx context.Context, rep *Report, stmts []WorkloadStatement) (changes []PlanChange, status, note string, err error) {
	ics, ahead := splitAhead(indexChangesOf(rep))
	if len(ics) == 0 {
		return nil, CheckSkipped, cmp.Or(ahead, "no index change"), nil
	}
	if t.schema != "" {
		return nil, CheckNotRun, "plans are not compared on a schema-per-tenant target", nil
	}
	cfg, err := pgx.ParseConfig(t.dsn)
	if err != nil {
		return nil, CheckNotRun, "", fmt.Errorf("plan check: parse dsn: %w", err)
	}
	cfg.RuntimeParams["application_name"] = planApplicationName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, CheckNotRun, "", fmt.Errorf("plan check: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var has bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'hypopg')`).Scan(&has); err != nil {
		return nil, CheckNotRun, "", fmt.Errorf("plan check: %w", err)
	}
	if !has {
		return nil, CheckNotRun, "the hypopg extension is not installed in this database (Debian package postgresql-15-hypopg, then CREATE EXTENSION hypopg): plans were not compared", nil
	}
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		return nil, CheckNotRun, "", fmt.Errorf("plan check: %w", err)
	}
	touched := map[string]bool{}
	for _, tb := range rep.Tables {
		touched[tb] = true
	}
	for _, ic := range ics {
		if ic.hide == "" {
			continue
		}
		var tb string
		err := conn.QueryRow(ctx, `SELECT coalesce((SELECT n.nspname || '.' || c.relname FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.indexrelid = to_regclass($1)), '')`, ic.hide).Scan(&tb)
		if err != nil {
			return nil, CheckNotRun, "", fmt.Errorf("plan check: table of %s: %w", ic.hide, err)
		}
		if tb != "" {
			touched[tb] = true
		}
	}
	resolve := func(name string) string {
		var qn string
		if err := conn.QueryRow(ctx, `SELECT coalesce((SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1)), '')`, name).Scan(&qn); err != nil {
			return ""
		}
		return qn
	}
	type cand struct {
		s      WorkloadStatement
		before plan
	}
	var cands []cand
	for i, s := range stmts {
		if !isSelect(s.text) {
			continue
		}
		r, ok := statementRefs(s.text, resolve)
		if !ok || !anyTouched(r.tables, touched) {
			continue
		}
		p, err := explainGeneric(ctx, conn, i, s.text, touched)
		if err != nil {
			continue // a statement the generic plan cannot be built for
		}
		cands = append(cands, cand{s, p})
	}
	if len(cands) == 0 {
		return nil, CheckPassed, withAhead("no statement of the workload reads the touched tables", ahead), nil
	}
	var canHide bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'hypopg_hide_index')`).Scan(&canHide); err != nil {
		return nil, CheckNotRun, "", fmt.Errorf("plan check: %w", err)
	}
	var hidden []string           // dropped indexes hypopg cannot hide
	rename := map[string]string{} // hypopg's index names → the declared ones
	for _, ic := range ics {
		var err error
		switch {
		case ic.sql != "":
			var hypo string
			if err = conn.QueryRow(ctx, "SELECT indexname FROM hypopg_create_index($1)", ic.sql).Scan(&hypo); err == nil && ic.name != "" {
				rename[hypo] = ic.name + " (hypothetical)"
			}
		case canHide:
			_, err = conn.Exec(ctx, "SELECT hypopg_hide_index(to_regclass($1))", ic.hide)
		default:
			_, bare := splitQualified(ic.hide)
			hidden = append(hidden, bare)
		}
		if err != nil {
			return nil, CheckNotRun, "", fmt.Errorf("plan check: hypothetical %s: %s", ic.desc, pgErrorText(err))
		}
	}
	var desc []string
	for _, ic := range ics {
		desc = append(desc, ic.desc)
	}
	for i, c := range cands {
		after, err := explainAfter(ctx, conn, len(stmts)+i, c.s.text, touched, c.before, hidden)
		if err != nil {
			continue
		}
		for hypo, name := range rename {
			after.nodes = strings.ReplaceAll(after.nodes, hypo, name)
		}
		ratio := after.cost / math.Max(c.before.cost, 1e-9)
		if ratio >= 1.5 || ratio <= 1/1.5 || after.nodes != c.before.nodes {
			changes = append(changes, PlanChange{WorkloadStatement: c.s, Change: strings.Join(desc, "; "), CostBefore: c.before.cost,
				CostAfter: after.cost, Ratio: ratio, NodesBefore: c.before.nodes, NodesAfter: after.nodes})
		}
	}
	return changes, CheckPassed, withAhead(fmt.Sprintf("%d statement%s compared", len(cands), plural(len(cands))), ahead), nil
}

// splitAhead keeps the index changes the plan check can build on the
// target, and says which it leaves out: those on a table or column the
// migration creates, renames or empties first ("" when none).
func splitAhead(ics []indexChange) (kept []indexChange, note string) {
	var left []string
	for _, ic := range ics {
		if ic.ahead {
			left = append(left, ic.desc)
			continue
		}
		kept = append(kept, ic)
	}
	if len(left) == 0 {
		return kept, ""
	}
	return kept, "not compared, as it indexes what this file creates, renames or empties first (the target's plans say nothing of it): " + strings.Join(left, "; ")
}

func withAhead(note, ahead string) string {
	if ahead == "" {
		return note
	}
	return note + "; " + ahead
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func anyTouched(tables, touched map[string]bool) bool {
	for t := range tables {
		if touched[t] {
			return true
		}
	}
	return false
}

// explainAfter explains sql with the hypothetical changes in place. A
// dropped index hypopg cannot hide (hypopg before 1.4) is emulated for a
// statement whose plan uses it by disabling index scans for that statement
// (session settings, reset after): an upper bound of its cost, since the
// table's other indexes are set aside too. A statement whose plan does not
// use a dropped index is unchanged by its drop.
func explainAfter(ctx context.Context, conn *pgx.Conn, id int, sql string, touched map[string]bool, before plan, hidden []string) (plan, error) {
	uses := false
	for _, ix := range hidden {
		for _, n := range strings.Split(before.nodes, ", ") {
			uses = uses || strings.HasSuffix(n, " using "+ix) || strings.Contains(n, " using "+ix+" on ")
		}
	}
	if !uses {
		return explainGeneric(ctx, conn, id, sql, touched)
	}
	for _, set := range []string{"enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"} {
		if _, err := conn.Exec(ctx, "SET "+set+" = off"); err != nil {
			return plan{}, err
		}
	}
	defer func() {
		// Reset for the next statement; the session ends with the check.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "RESET enable_indexscan; RESET enable_indexonlyscan; RESET enable_bitmapscan")
	}()
	p, err := explainGeneric(ctx, conn, id, sql, touched)
	if err != nil {
		return plan{}, err
	}
	if p.cost >= 1e9 {
		return plan{}, fmt.Errorf("no plan without an index") // only disabled paths were left
	}
	p.nodes += " (index scans off: hypopg < 1.4 cannot hide one index)"
	return p, nil
}

// isSelect reports whether sql is one SELECT statement (planning any other
// kind would take a stronger lock than a SELECT's).
func isSelect(sql string) bool {
	res, err := pgast.Parse(sql)
	if err != nil || len(res.Stmts) != 1 {
		return false
	}
	sel := res.Stmts[0].Stmt.GetSelectStmt()
	return sel != nil && sel.IntoClause == nil && len(sel.LockingClause) == 0
}

// plan is a statement's estimated cost and its scans of touched tables.
type plan struct {
	cost  float64
	nodes string
}

// explainGeneric prepares sql (its $n parameters typed by the planner),
// explains its generic plan and deallocates it.
func explainGeneric(ctx context.Context, conn *pgx.Conn, id int, sql string, touched map[string]bool) (plan, error) {
	res, err := pgast.Parse(sql)
	if err != nil {
		return plan{}, err
	}
	params := 0
	pgast.Walk(res, func(n any) bool {
		if p, ok := n.(*pgast.ParamRef); ok && int(p.Number) > params {
			params = int(p.Number)
		}
		return true
	})
	name := fmt.Sprintf("schemacanary_plan_%d", id)
	if _, err := conn.Exec(ctx, "PREPARE "+name+" AS "+sql); err != nil {
		return plan{}, err
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "DEALLOCATE "+name) }() // the session ends with the check anyway
	args := strings.TrimSuffix(strings.Repeat("NULL,", params), ",")
	if params > 0 {
		args = "(" + args + ")"
	}
	var out []byte
	if err := conn.QueryRow(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE "+name+args).Scan(&out); err != nil {
		return plan{}, err
	}
	var doc []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(out, &doc); err != nil || len(doc) == 0 {
		return plan{}, fmt.Errorf("explain output: %w", err)
	}
	var nodes []string
	doc[0].Plan.scans(touched, &nodes)
	return plan{cost: doc[0].Plan.TotalCost, nodes: strings.Join(nodes, ", ")}, nil
}

type planNode struct {
	NodeType  string     `json:"Node Type"`
	TotalCost float64    `json:"Total Cost"`
	Relation  string     `json:"Relation Name"`
	Schema    string     `json:"Schema"`
	Index     string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

// scans appends the scans of touched tables (and bitmap index scans,
// which name only their index), in plan order.
func (p planNode) scans(touched map[string]bool, out *[]string) {
	if p.Relation == "" && p.Index != "" {
		*out = append(*out, p.NodeType+" using "+p.Index)
	}
	if p.Relation != "" {
		schema := p.Schema
		if schema == "" {
			schema = "public"
		}
		if touched[schema+"."+p.Relation] || len(touched) == 0 {
			s := p.NodeType
			if p.Index != "" {
				s += " using " + p.Index
			}
			*out = append(*out, s+" on "+p.Relation)
		}
	}
	for _, c := range p.Plans {
		c.scans(touched, out)
	}
}
