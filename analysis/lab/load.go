package lab

import (
	"fmt"

	"github.com/schemacanary/schemacanary/internal/loadgen"
)

// Query classes of the load, the keys of Window.Baseline and Window.Canary.
const (
	QueryByID       = "by_id"
	QueryByCustomer = "by_customer"
	QueryUpdate     = "update"
	QueryInsert     = "insert"
)

// loadStatements is an OLTP mix on the table: point reads by primary key,
// reads through the customer index, updates of amount and status, inserts.
func loadStatements(rows int64) []loadgen.Statement {
	t := TableName(rows)
	return []loadgen.Statement{
		{Name: QueryByID, Weight: 45, SQL: fmt.Sprintf("SELECT id, status, amount FROM %s WHERE id = $1", t),
			Args: []loadgen.Arg{loadgen.IntRange(1, rows)}},
		{Name: QueryByCustomer, Weight: 20, SQL: fmt.Sprintf("SELECT count(*), sum(amount) FROM %s WHERE customer_id = $1", t),
			Args: []loadgen.Arg{loadgen.IntRange(1, Customers)}},
		{Name: QueryUpdate, Weight: 25, SQL: fmt.Sprintf("UPDATE %s SET amount = amount + 1, status = 'paid' WHERE id = $1", t),
			Args: []loadgen.Arg{loadgen.IntRange(1, rows)}},
		{Name: QueryInsert, Weight: 10, SQL: fmt.Sprintf("INSERT INTO %s (customer_id, status, amount) VALUES ($1, 'new', 1)", t),
			Args: []loadgen.Arg{loadgen.IntRange(1, Customers)}},
	}
}
