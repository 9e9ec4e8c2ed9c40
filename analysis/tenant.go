package analysis

import (
	"fmt"
	"regexp"
	"strings"
)

// A schema-per-tenant target (WithTargetSchema) is one tenant's schema in
// a database many tenants share. The migrations name its tables
// unqualified, and Analyze reads them as objects of the default schema
// ("public.orders"); on the target they are the tenant's
// ("tenant_42.orders"). The Target connects with search_path set to the
// tenant's schema (the dry run and the data checks run there), its catalog
// reads the tenant's tables under the report's names, and names it reads
// back from the database are written in the report's terms again. The
// plan check (hypopg) is not run there, and pg_stat_statements, shared by
// every tenant of the database, counts their references together.

// plainSchema is a schema name that needs no quoting in search_path.
var plainSchema = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// WithTargetSchema makes the target one tenant's schema (see above). The
// name must be a plain lowercase identifier (letters, digits, _).
func WithTargetSchema(schema string) TargetOption {
	return func(t *Target) error {
		if !plainSchema.MatchString(schema) || len(schema) > 63 {
			return fmt.Errorf("WithTargetSchema(%q): want a lowercase identifier of letters, digits and _", schema)
		}
		t.schema = schema
		return nil
	}
}

// WithCatalogSchema makes the catalog read schema's tables for the names
// it is asked about in the default schema, keeping the names asked.
func WithCatalogSchema(schema string) CatalogOption {
	return func(c *PGCatalog) error { c.tenant = schema; return nil }
}

// toTenant maps a name of the default schema to the tenant's ("" tenant:
// unchanged).
func toTenant(tenant, schema string) string {
	if tenant != "" && (schema == "" || schema == defaultSchemaName) {
		return tenant
	}
	return schema
}

// fromTenant writes a qualified name read from the database in the
// report's terms: the tenant's schema is the default one.
func fromTenant(tenant, qualified string) string {
	if s, n, ok := strings.Cut(qualified, "."); ok && tenant != "" && s == tenant {
		return defaultSchemaName + "." + n
	}
	return qualified
}

// defaultSchemaName is the schema unqualified names are read in.
const defaultSchemaName = "public"
