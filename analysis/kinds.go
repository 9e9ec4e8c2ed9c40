package analysis

import (
	"fmt"
	"strings"
	"unicode"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// kindOf names a statement's kind: a stable snake_case name. Common DDL has
// explicit names ("create_table", "alter_table", "create_index",
// "drop_table", "drop_index", "rename_column", ...); any other statement is
// named after its parse node ("VacuumStmt" → "vacuum").
func kindOf(n *pg_query.Node) string {
	switch s := n.GetNode().(type) {
	case *pg_query.Node_CreateStmt:
		return "create_table"
	case *pg_query.Node_IndexStmt:
		return "create_index"
	case *pg_query.Node_AlterTableStmt:
		switch s.AlterTableStmt.Objtype {
		case pg_query.ObjectType_OBJECT_INDEX:
			return "alter_index"
		case pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_MATVIEW:
			return "alter_view"
		case pg_query.ObjectType_OBJECT_SEQUENCE:
			return "alter_sequence"
		}
		return "alter_table"
	case *pg_query.Node_DropStmt:
		return "drop_" + objName(s.DropStmt.RemoveType)
	case *pg_query.Node_RenameStmt:
		return "rename_" + objName(s.RenameStmt.RenameType)
	case *pg_query.Node_ViewStmt:
		return "create_view"
	case *pg_query.Node_CreateTableAsStmt:
		if s.CreateTableAsStmt.Objtype == pg_query.ObjectType_OBJECT_MATVIEW {
			return "create_materialized_view"
		}
		return "create_table_as"
	case *pg_query.Node_CreateSeqStmt:
		return "create_sequence"
	case *pg_query.Node_CreateFunctionStmt:
		return "create_function"
	case *pg_query.Node_CreateEnumStmt:
		return "create_type"
	case *pg_query.Node_CompositeTypeStmt:
		return "create_type"
	case *pg_query.Node_AlterEnumStmt:
		return "alter_type"
	case *pg_query.Node_VariableSetStmt:
		return "set"
	case *pg_query.Node_TransactionStmt:
		return "transaction"
	case *pg_query.Node_CreatedbStmt:
		return "create_database"
	case *pg_query.Node_DropdbStmt:
		return "drop_database"
	case *pg_query.Node_CreateTrigStmt:
		return "create_trigger"
	}
	name := fmt.Sprintf("%T", n.GetNode())
	name = strings.TrimPrefix(name, "*pg_query.Node_")
	name = strings.TrimSuffix(name, "Stmt")
	return snake(name)
}

// objName is an object type's name ("table", "index"). It reads pg_query's
// name table rather than calling String(), which would make protobuf build
// the descriptors of the whole parse tree schema on first use.
func objName(t pg_query.ObjectType) string {
	return strings.ToLower(strings.TrimPrefix(pg_query.ObjectType_name[int32(t)], "OBJECT_"))
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
