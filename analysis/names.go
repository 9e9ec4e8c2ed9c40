package analysis

import (
	"strings"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// qualify returns "schema.name", defaulting the schema.
func qualify(schema, name, def string) string {
	if schema == "" {
		schema = def
	}
	return schema + "." + name
}

// splitQualified splits "schema.table" (no schema → "", name).
func splitQualified(q string) (schema, name string) {
	s, n, ok := strings.Cut(q, ".")
	if !ok {
		return "", q
	}
	return s, n
}

// rangeVarName qualifies a RangeVar with the default schema.
func rangeVarName(rv *pgast.RangeVar, def string) string {
	if rv == nil {
		return ""
	}
	if rv.Relpersistence == "t" && rv.Schemaname == "" {
		return "pg_temp." + rv.Relname
	}
	return qualify(rv.Schemaname, rv.Relname, def)
}

// stringList joins a list of String nodes (e.g. a qualified name) with dots.
func stringList(nodes []*pgast.Node) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if s := n.GetString_(); s != nil {
			out = append(out, s.Sval)
		}
	}
	return out
}

// qualifiedList turns a qualified-name list (["s","t"] or ["t"]) into "s.t".
func qualifiedList(nodes []*pgast.Node, def string) string {
	parts := stringList(nodes)
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return qualify("", parts[0], def)
	default:
		return qualify(parts[len(parts)-2], parts[len(parts)-1], def)
	}
}

// typeName returns the last component of a TypeName ("int4", "varchar").
func typeName(t *pgast.TypeName) string {
	if t == nil {
		return ""
	}
	parts := stringList(t.Names)
	if len(parts) == 0 {
		return ""
	}
	return strings.ToLower(parts[len(parts)-1])
}

// typeHasLength reports whether a type carries a length/precision modifier.
func typeHasLength(t *pgast.TypeName) bool { return t != nil && len(t.Typmods) > 0 }
