package analysis

import (
	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// namedSchemas appends to seen the schemas statement node names explicitly in
// a relation name: a table, view, index or sequence written "s.name" (a
// RangeVar with its schema, or a qualified object of a DROP). Functions
// and types are left out: a tenant's migration may well call a function
// of a shared schema (an extension's, say) by its qualified name.
func namedSchemas(node *pgast.Node, seen *[]string) {
	pgast.Walk(node, func(n any) bool {
		switch x := n.(type) {
		case *pgast.RangeVar:
			if x.Schemaname != "" {
				*seen = append(*seen, x.Schemaname)
			}
		case *pgast.DropStmt:
			switch x.RemoveType {
			case pgast.ObjectType_OBJECT_TABLE, pgast.ObjectType_OBJECT_INDEX, pgast.ObjectType_OBJECT_VIEW,
				pgast.ObjectType_OBJECT_MATVIEW, pgast.ObjectType_OBJECT_SEQUENCE, pgast.ObjectType_OBJECT_FOREIGN_TABLE:
				for _, o := range x.Objects {
					if l := o.GetList(); l != nil {
						if parts := stringList(l.Items); len(parts) >= 2 {
							*seen = append(*seen, parts[len(parts)-2])
						}
					}
				}
			}
		}
		return true
	})
}
