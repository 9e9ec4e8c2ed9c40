package lab

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Customers is the row count of the customers table foreign keys point to,
// for tables of up to a million rows; bigger tables get one customer per
// 100 rows (CustomersFor), so reading a customer's orders touches at most
// about 100 rows.
const Customers = 10000

// CustomersFor is the number of customers of the table of the given size.
func CustomersFor(rows int64) int64 { return max(Customers, rows/100) }

// TableName is the table of the given size, e.g. orders_2m, orders_empty.
func TableName(rows int64) string {
	switch {
	case rows == 0:
		return "orders_empty"
	case rows >= 1_000_000 && rows%1_000_000 == 0:
		return fmt.Sprintf("orders_%dm", rows/1_000_000)
	case rows >= 1000 && rows%1000 == 0:
		return fmt.Sprintf("orders_%dk", rows/1000)
	default:
		return fmt.Sprintf("orders_%d", rows)
	}
}

// createCustomers creates the table the foreign-key templates reference,
// with n customers.
func createCustomers(ctx context.Context, db *pgxpool.Pool, n int64) error {
	_, err := db.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS customers (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, %d) g ON CONFLICT DO NOTHING;
ANALYZE customers`, n))
	if err != nil {
		return fmt.Errorf("lab: create customers: %w", err)
	}
	return nil
}

// createTable (re)builds the orders table of the given size with
// generate_series: every id, CustomersFor(rows) customers spread evenly, a third of the notes
// NULL, two secondary indexes (one the load uses, one it does not). The
// primary key and indexes are built after the rows are in.
func createTable(ctx context.Context, db *pgxpool.Pool, rows int64) error {
	t := pgx.Identifier{TableName(rows)}.Sanitize()
	name := TableName(rows)
	sql := fmt.Sprintf(`SET maintenance_work_mem = '256MB';
DROP TABLE IF EXISTS %[1]s CASCADE;
CREATE TABLE %[1]s (
  id bigserial NOT NULL,
  customer_id bigint NOT NULL,
  status varchar(20) NOT NULL DEFAULT 'new',
  amount numeric(12,2),
  qty integer NOT NULL DEFAULT 1,
  note text,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO %[1]s (id, customer_id, status, amount, qty, note, created_at)
SELECT g, g %% %[3]d + 1, (ARRAY['new','paid','shipped','open'])[g %% 4 + 1], (g %% 1000) / 10.0, g %% 7 + 1,
       CASE WHEN g %% 3 = 0 THEN NULL ELSE 'note ' || g END, now() - g * interval '1 second'
FROM generate_series(1, %[2]d) g;
SELECT setval(pg_get_serial_sequence('%[4]s', 'id'), greatest(%[2]d, 1), %[2]d > 0);
ALTER TABLE %[1]s ADD CONSTRAINT %[4]s_pkey PRIMARY KEY (id);
CREATE INDEX %[4]s_customer_idx ON %[1]s (customer_id);
CREATE INDEX %[4]s_created_idx ON %[1]s (created_at)`, t, rows, CustomersFor(rows), name)
	if _, err := db.Exec(ctx, sql); err != nil {
		return fmt.Errorf("lab: create %s: %w", name, err)
	}
	// VACUUM cannot share the implicit transaction of a multi-statement Exec.
	if _, err := db.Exec(ctx, "VACUUM ANALYZE "+t); err != nil {
		return fmt.Errorf("lab: vacuum %s: %w", name, err)
	}
	return nil
}

// fingerprint describes the table's shape (columns with types and
// nullability, indexes, constraints, triggers) so a template whose Down did
// not restore it can be detected.
func fingerprint(ctx context.Context, db *pgxpool.Pool, table string) (string, error) {
	var parts []string
	rows, err := db.Query(ctx, `
SELECT 'c:' || a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull
FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL SELECT 'i:' || indexrelid::regclass::text || ':' || indisvalid FROM pg_index WHERE indrelid = to_regclass($1)
UNION ALL SELECT 'k:' || conname FROM pg_constraint WHERE conrelid = to_regclass($1)
UNION ALL SELECT 't:' || tgname FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal
UNION ALL SELECT 'r:' || rulename FROM pg_rules WHERE tablename = $1
UNION ALL SELECT 'p:' || relpersistence::text || relrowsecurity::text || relkind::text FROM pg_class WHERE oid = to_regclass($1)
ORDER BY 1`, table)
	if err != nil {
		return "", fmt.Errorf("lab: fingerprint %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return "", fmt.Errorf("lab: fingerprint %s: %w", table, err)
		}
		parts = append(parts, p)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("lab: fingerprint %s: %w", table, err)
	}
	if len(parts) == 0 {
		return "", nil
	}
	return strings.Join(parts, "\n"), nil
}
