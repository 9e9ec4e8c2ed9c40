package reconciler

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/rollout"
)

// PlanChange builds the rollout.Plan of a parsed migration and its
// analysis: the file bytes for goose's Provider, the touched tables and
// the strongest lock of each section for the lock-safe applier and the
// rollback fence, and what the Down section drops for the archive. With a
// nil report the change still rolls out, assuming the strongest lock and
// archiving nothing (callers should pass AllowDataLoss=false changes only
// with a report).
func PlanChange(m *migration.Migration, rep *analysis.Report) *rollout.Plan {
	ch := &rollout.Plan{
		Version:       m.Version,
		Name:          m.Name,
		Source:        m.Source,
		AllowDataLoss: m.FrontMatter.AllowDataLoss,
		NoTransaction: m.NoTransaction,
		Bake:          time.Duration(m.FrontMatter.Bake),
	}
	if rep == nil {
		return ch
	}
	ch.Tables = append([]string(nil), rep.Tables...)
	ch.Schemas = append([]string(nil), rep.Schemas...)
	ch.Lock = rep.StrongestLock
	var downLocks []string
	seen := map[string]bool{}
	for _, t := range ch.Tables {
		seen[t] = true
	}
	for _, s := range rep.Statements {
		if s.Section != analysis.SectionDown {
			continue
		}
		downLocks = append(downLocks, s.Lock)
		// The fence covers what the Down touches too.
		for _, rel := range s.Relations {
			if !seen[rel] && isTableOf(rep, rel) {
				seen[rel] = true
				ch.Tables = append(ch.Tables, rel)
			}
		}
	}
	ch.DownLock = rollout.StrongestLock(downLocks...)
	for _, s := range rep.Statements {
		if s.Section != analysis.SectionUp {
			continue
		}
		for _, o := range s.Creates {
			if o.Kind == "index" {
				ch.Indexes = append(ch.Indexes, rollout.IndexRef{Schema: o.Schema, Table: o.Table, Name: o.Name})
			}
		}
	}
	for _, d := range rep.DownDrops {
		ch.Archive = append(ch.Archive, rollout.ArchiveTarget{Schema: d.Schema, Table: d.Table, Column: d.Column})
	}
	for _, dc := range rep.DataChecks {
		spec, err := json.Marshal(dc)
		if err != nil {
			continue // a struct of strings and ints always marshals
		}
		ch.DataChecks = append(ch.DataChecks, rollout.DataCheck{Table: dc.Table, What: dc.What, Spec: spec})
	}
	return ch
}

// DataChecks answers a plan's data checks (the analysis's, as PlanChange
// stores them) on one instance, read-only, with the same code the
// prediction gate runs: the rollout's pre-flight asks it before each
// target's apply, since every target has its own rows.
type DataChecks struct {
	// Timeout bounds each check (statement_timeout); default 30s.
	Timeout time.Duration
}

var _ rollout.DataChecker = DataChecks{}

// CheckData runs checks on inst and returns those that failed.
func (d DataChecks) CheckData(ctx context.Context, inst rollout.Instance, checks []rollout.DataCheck) ([]rollout.DataViolation, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	cfg, err := inst.ConnConfig(nil)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("instance %s: connect: %w", inst.Name, err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }() // read-only session: nothing to keep
	var out []rollout.DataViolation
	for _, c := range checks {
		var dc analysis.DataCheck
		if err := json.Unmarshal(c.Spec, &dc); err != nil {
			return out, fmt.Errorf("data check on %s (%s): %w", c.Table, c.What, err)
		}
		if inst.Schema != "" {
			// A schema-per-tenant target: the tenant's rows (see rollout.Plan.On).
			if dc, err = dc.InSchema(rollout.DefaultSchema, inst.Schema); err != nil {
				return out, fmt.Errorf("data check on %s: %w", c.Table, err)
			}
		}
		violated, detail, err := analysis.RunDataCheck(ctx, conn, dc, timeout)
		if err != nil {
			return out, fmt.Errorf("data check on %s (%s): %w", c.Table, c.What, err)
		}
		if violated {
			out = append(out, rollout.DataViolation{Check: c, Detail: detail})
		}
	}
	return out, nil
}

// isTableOf reports whether rel names a table (not an index) in rep: one
// the Up touches or one a statement creates or drops as a table.
func isTableOf(rep *analysis.Report, rel string) bool {
	for _, s := range rep.Statements {
		for _, o := range append(append([]analysis.Object{}, s.Creates...), s.Drops...) {
			if (o.Kind == "table" || o.Kind == "column") && qualifiedName(o.Schema, o.Table) == rel {
				return true
			}
		}
		if s.WorkTable == rel {
			return true
		}
	}
	return false
}

func qualifiedName(schema, table string) string {
	if schema == "" {
		schema = "public"
	}
	return schema + "." + table
}
