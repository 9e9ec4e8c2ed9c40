package lab

import (
	"fmt"

	"github.com/schemacanary/schemacanary/internal/loadgen"
)

// Query classes of the load on an orders table, the keys of
// Window.Baseline and Window.Canary. A corpus replay's classes are
// "read:<table>" and "write:<table>".
const (
	QueryByID       = "by_id"
	QueryByCustomer = "by_customer"
	QueryUpdate     = "update"
	QueryInsert     = "insert"
)

// loadStatements is an OLTP mix on the table: point reads by primary key
// and reads through the customer index at read statements per second,
// updates of amount and status and inserts at write per second (none when
// write is 0).
func loadStatements(rows int64, read, write float64) []loadgen.Statement {
	t := TableName(rows)
	hi := max(rows, 1)
	all := []loadgen.Statement{
		{Name: QueryByID, Weight: 0.7 * read, SQL: fmt.Sprintf("SELECT id, status, amount FROM %s WHERE id = $1", t),
			Args: []loadgen.Arg{loadgen.IntRange(1, hi)}},
		{Name: QueryByCustomer, Weight: 0.3 * read, SQL: fmt.Sprintf("SELECT count(*), sum(amount) FROM %s WHERE customer_id = $1", t),
			Args: []loadgen.Arg{loadgen.IntRange(1, CustomersFor(rows))}},
		{Name: QueryUpdate, Weight: 0.7 * write, SQL: fmt.Sprintf("UPDATE %s SET amount = amount + 1, status = 'paid' WHERE id = $1", t),
			Args: []loadgen.Arg{loadgen.IntRange(1, hi)}},
		{Name: QueryInsert, Weight: 0.3 * write, SQL: fmt.Sprintf("INSERT INTO %s (customer_id, status, amount) VALUES ($1, 'new', 1)", t),
			Args: []loadgen.Arg{loadgen.IntRange(1, CustomersFor(rows))}},
	}
	var out []loadgen.Statement
	for _, st := range all {
		if st.Weight > 0 { // a zero weight would mean 1 to loadgen
			out = append(out, st)
		}
	}
	return out
}

// loadWorkers is the number of load connections for a rate: enough that a
// healthy server never queues the open-loop schedule.
func loadWorkers(rate float64) int { return min(16, max(4, int(rate/150))) }
