package rollout

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Schema-per-tenant targets: many tenants in one database, each in a
// schema of its own with its own goose version table. An Instance with a
// Schema is such a target. Its migrations are written with unqualified
// names, which the analysis reads as objects of DefaultSchema; on the
// target they are the tenant's:
//
//   - every session schemacanary opens on it (apply, down, pre-flight,
//     probes) has search_path set to the tenant's schema alone, so the
//     unqualified SQL of the goose file resolves there;
//   - goose's version table is <schema>.<table> (rollout.goose_table, by
//     default goose_db_version);
//   - the plan's objects in DefaultSchema (the tables the lock check and
//     the fence use, the data a rollback archives, the indexes a failed
//     CONCURRENTLY build leaves, the data checks) are the tenant's
//     (Plan.On);
//   - a change that names DefaultSchema explicitly ("public.orders") is
//     refused on such a target before anything is touched: it would change
//     the shared schema once per tenant.

// DefaultSchema is the schema the analysis qualifies unqualified names
// with; on a schema-per-tenant target it stands for the tenant's schema.
const DefaultSchema = "public"

// ErrQualifiedForTenant is wrapped when a change names DefaultSchema
// explicitly and a schema-per-tenant target would get it.
var ErrQualifiedForTenant = errors.New("change names the default schema explicitly")

// checkSchemaName reports what is wrong with a tenant schema's name.
func checkSchemaName(s string) error {
	switch {
	case s == "":
		return nil
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("schema %q has leading or trailing blanks", s)
	case len(s) > 63:
		return fmt.Errorf("schema %q is longer than PostgreSQL's 63 bytes", s)
	case s == DefaultSchema:
		return fmt.Errorf("schema %q is the default schema: leave schema out for a database-per-tenant target", s)
	case s == ArchiveSchema || s == "information_schema" || strings.HasPrefix(s, "pg_"):
		return fmt.Errorf("schema %q is reserved", s)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("schema %q holds a NUL byte", s)
	}
	return nil
}

// sessionParams adds the tenant's search_path to params (a copy).
func (i Instance) sessionParams(params map[string]string) map[string]string {
	if i.Schema == "" {
		return params
	}
	out := make(map[string]string, len(params)+1)
	for k, v := range params {
		out[k] = v
	}
	out["search_path"] = ident(i.Schema)
	return out
}

// gooseTable is the goose version table on the instance: table itself, or,
// on a schema-per-tenant target, table in the tenant's schema (a table
// already schema-qualified in the configuration is kept as it is).
func (i Instance) gooseTable(table string) string {
	if i.Schema == "" || strings.Contains(table, ".") {
		return table
	}
	return i.Schema + "." + table
}

// tenantName maps a schema-qualified name ("public.orders") to the
// instance: on a schema-per-tenant target, a name in DefaultSchema becomes
// the tenant's ("tenant_42.orders"); any other name is kept.
func (i Instance) tenantName(q string) string {
	if i.Schema == "" {
		return q
	}
	if s, n, ok := strings.Cut(q, "."); ok && s == DefaultSchema {
		return i.Schema + "." + n
	}
	return q
}

// tenantSchema maps a schema name the same way.
func (i Instance) tenantSchema(s string) string {
	if i.Schema != "" && (s == DefaultSchema || s == "") {
		return i.Schema
	}
	return s
}

// On returns the plan as it applies to inst: p itself on a
// database-per-tenant target; on a schema-per-tenant target, a copy whose
// objects in DefaultSchema are the tenant's (see the top of this file).
// The Source is unchanged: its unqualified names resolve through the
// session's search_path. The error wraps ErrQualifiedForTenant when the
// change names DefaultSchema explicitly.
func (p *Plan) On(inst Instance) (*Plan, error) {
	if inst.Schema == "" {
		return p, nil
	}
	if slices.Contains(p.Schemas, DefaultSchema) {
		return nil, fmt.Errorf("change %d on %s: %w (%s.…): on schema-per-tenant target %s it would change %s, not %s; write the names unqualified",
			p.Version, inst.Name, ErrQualifiedForTenant, DefaultSchema, inst.Name, DefaultSchema, inst.Schema)
	}
	q := *p
	q.Tables = make([]string, len(p.Tables))
	for i, t := range p.Tables {
		q.Tables[i] = inst.tenantName(t)
	}
	q.Archive = make([]ArchiveTarget, len(p.Archive))
	for i, a := range p.Archive {
		a.Schema = inst.tenantSchema(a.Schema)
		q.Archive[i] = a
	}
	q.Indexes = make([]IndexRef, len(p.Indexes))
	for i, x := range p.Indexes {
		x.Schema = inst.tenantSchema(x.Schema)
		q.Indexes[i] = x
	}
	q.DataChecks = make([]DataCheck, len(p.DataChecks))
	for i, c := range p.DataChecks {
		c.Table = inst.tenantName(c.Table)
		q.DataChecks[i] = c
	}
	return &q, nil
}
