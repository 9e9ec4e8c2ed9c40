package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/schemacanary/schemacanary/internal/loadgen"
)

// The shop's traffic. "my_orders" is the hot query: it needs
// orders_customer_id_idx, which the demo's harmful change drops.
const (
	hotQuery    = "my_orders"
	insertQuery = "new_order"
)

// workload is the application's statement mix.
func workload(sc Scale) []loadgen.Statement {
	return []loadgen.Statement{
		{Name: hotQuery, Weight: 6,
			SQL:  `SELECT id, status, total_cents, created_at FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 10`,
			Args: []loadgen.Arg{loadgen.IntRange(1, int64(sc.Customers))}},
		{Name: "product", Weight: 3,
			SQL:  `SELECT id, name, price_cents, stock FROM products WHERE id = $1`,
			Args: []loadgen.Arg{loadgen.IntRange(1, int64(sc.Products))}},
		{Name: insertQuery, Weight: 1,
			SQL:  `INSERT INTO orders (customer_id, total_cents) VALUES ($1, $2)`,
			Args: []loadgen.Arg{loadgen.IntRange(1, int64(sc.Customers)), loadgen.IntRange(500, 90000)}},
	}
}

// Load is the load generator running on every fleet instance.
type Load struct {
	gens map[string]*loadgen.Generator
}

// startLoad runs the workload at rate statements per second on every
// instance of the fleet.
func startLoad(ctx context.Context, fleet []Instance, sc Scale, rate float64) (*Load, error) {
	l := &Load{gens: map[string]*loadgen.Generator{}}
	for i, in := range fleet {
		g, err := loadgen.Start(ctx, loadgen.Config{DSN: in.DSN, Rate: rate, Workers: 4, Statements: workload(sc), Seed: uint64(i + 1)})
		if err != nil {
			l.Stop()
			return nil, fmt.Errorf("demo: load on %s: %w", in.Name, err)
		}
		l.gens[in.Name] = g
	}
	return l, nil
}

// Inserted returns the number of orders the load inserted on an instance.
func (l *Load) Inserted(instance string) int64 {
	g, ok := l.gens[instance]
	if !ok {
		return 0
	}
	res := g.Snapshot()
	st, ok := res.Stats[insertQuery]
	if !ok {
		return 0
	}
	return int64(st.Calls - st.Errors)
}

// Stop stops every generator and returns their errors, if any.
func (l *Load) Stop() error {
	var errs []error
	for name, g := range l.gens {
		res := g.Stop()
		if res == nil {
			errs = append(errs, fmt.Errorf("load on %s: no result", name))
		}
	}
	return errors.Join(errs...)
}
