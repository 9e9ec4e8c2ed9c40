package analysis

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// kindOf names a statement's kind: a stable snake_case name. Common DDL has
// explicit names ("create_table", "alter_table", "create_index",
// "drop_table", "drop_index", "rename_column", ...); any other statement is
// named after its parse node ("VacuumStmt" → "vacuum").
func kindOf(n *pgast.Node) string {
	switch s := n.GetNode().(type) {
	case *pgast.Node_CreateStmt:
		return "create_table"
	case *pgast.Node_IndexStmt:
		return "create_index"
	case *pgast.Node_AlterTableStmt:
		switch s.AlterTableStmt.Objtype {
		case pgast.ObjectType_OBJECT_INDEX:
			return "alter_index"
		case pgast.ObjectType_OBJECT_VIEW, pgast.ObjectType_OBJECT_MATVIEW:
			return "alter_view"
		case pgast.ObjectType_OBJECT_SEQUENCE:
			return "alter_sequence"
		}
		return "alter_table"
	case *pgast.Node_DropStmt:
		return "drop_" + objName(s.DropStmt.RemoveType)
	case *pgast.Node_RenameStmt:
		return "rename_" + objName(s.RenameStmt.RenameType)
	case *pgast.Node_ViewStmt:
		return "create_view"
	case *pgast.Node_CreateTableAsStmt:
		if s.CreateTableAsStmt.Objtype == pgast.ObjectType_OBJECT_MATVIEW {
			return "create_materialized_view"
		}
		return "create_table_as"
	case *pgast.Node_CreateSeqStmt:
		return "create_sequence"
	case *pgast.Node_CreateFunctionStmt:
		return "create_function"
	case *pgast.Node_CreateEnumStmt:
		return "create_type"
	case *pgast.Node_CompositeTypeStmt:
		return "create_type"
	case *pgast.Node_AlterEnumStmt:
		return "alter_type"
	case *pgast.Node_VariableSetStmt:
		return "set"
	case *pgast.Node_TransactionStmt:
		return "transaction"
	case *pgast.Node_CreatedbStmt:
		return "create_database"
	case *pgast.Node_DropdbStmt:
		return "drop_database"
	case *pgast.Node_CreateTrigStmt:
		return "create_trigger"
	}
	name := fmt.Sprintf("%T", n.GetNode())
	name = strings.TrimPrefix(name, "*pgast.Node_")
	name = strings.TrimSuffix(name, "Stmt")
	return snake(name)
}

// objName is an object type's name ("table", "index").
func objName(t pgast.ObjectType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "OBJECT_"))
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
