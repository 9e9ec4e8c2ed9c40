package demo

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sync"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for goose
	"github.com/pressly/goose/v3"

	"github.com/schemacanary/schemacanary/examples"
)

// Scale sizes the seeded data of each fleet database.
type Scale struct {
	Customers, Products, Orders int
}

// DefaultScale is hundreds of thousands of rows per database: large enough
// that losing the hot index hurts, small enough to seed in seconds.
var DefaultScale = Scale{Customers: 40_000, Products: 2_000, Orders: 200_000}

// seedFleet brings every fleet database to the base history (the goose
// migrations of examples/migrations, applied with goose's Provider, as the
// team would have before adopting schemacanary), then fills it with data.
func seedFleet(ctx context.Context, fleet []Instance, sc Scale) (int64, error) {
	base, err := fs.Sub(examples.Migrations, "migrations")
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(fleet))
	versions := make([]int64, len(fleet))
	for i, in := range fleet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			versions[i], errs[i] = seedOne(ctx, in, base, sc)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("demo: seed %s: %w", fleet[i].Name, err)
		}
	}
	return versions[0], nil
}

func seedOne(ctx context.Context, in Instance, base fs.FS, sc Scale) (int64, error) {
	db, err := sql.Open("pgx", in.DSN)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, base)
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("goose up: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, err
	}
	stmts := []string{
		fmt.Sprintf(`INSERT INTO customers (email, full_name, country, loyalty_tier)
			SELECT 'customer' || g || '@example.com', 'Customer ' || g, (ARRAY['US','DE','FR','JP','BR'])[1 + g %% 5],
			       (ARRAY['standard','standard','silver','gold'])[1 + g %% 4]
			FROM generate_series(1, %d) g`, sc.Customers),
		fmt.Sprintf(`INSERT INTO products (sku, name, price_cents, stock)
			SELECT 'SKU-' || lpad(g::text, 6, '0'), 'Product ' || g, 199 + (g * 37) %% 20000, g %% 500
			FROM generate_series(1, %d) g`, sc.Products),
		fmt.Sprintf(`INSERT INTO orders (customer_id, total_cents, status, created_at)
			SELECT 1 + (g::bigint * 7919) %% %d, 500 + (g::bigint * 31) %% 50000,
			       (ARRAY['placed','paid','shipped','shipped','cancelled'])[1 + g %% 5],
			       now() - (g %% 400) * interval '1 day' - (g %% 86400) * interval '1 second'
			FROM generate_series(1, %d) g`, sc.Customers, sc.Orders),
		fmt.Sprintf(`INSERT INTO order_items (order_id, line_no, product_id, quantity, price_cents)
			SELECT o.id, l, 1 + (o.id * l * 13) %% %d, 1 + (o.id %% 3), 199 + (o.id %% 5000)
			FROM orders o, generate_series(1, 2) l`, sc.Products),
		`INSERT INTO payments (order_id, amount_cents, provider, captured_at)
			SELECT id, total_cents, (ARRAY['card','paypal','bank'])[1 + id % 3], created_at + interval '5 minutes'
			FROM orders WHERE status IN ('paid', 'shipped')`,
		`VACUUM ANALYZE`,
		`SELECT pg_stat_statements_reset()`,
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("seed: %w", err)
		}
	}
	// The plan check compares plans with hypothetical indexes (hypopg);
	// where the package is not installed the assessments say so.
	_, _ = db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS hypopg") // optional: absent, the check reports "not compared"
	return v, nil
}

// countRows returns the number of rows of table on one instance.
func countRows(ctx context.Context, dsn, table string) (int64, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n)
	return n, err
}
