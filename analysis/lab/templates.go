package lab

import "strings"

// Template is one kind of migration. Its SQL names the table under test as
// {{t}}; every template's Down restores the table so the next configuration
// can reuse it (Down statements tolerate an Up that failed).
type Template struct {
	// ID names the template; it is the example's group, so cross-validation
	// and the held-out split never see one template on both sides.
	ID string `json:"id"`
	// Family groups related templates ("column", "index", "constraint",
	// "table", "data", "trigger"); the held-out split draws from each.
	Family string `json:"family"`
	// Up and Down are the statements, in order.
	Up   []string `json:"up"`
	Down []string `json:"down"`
	// NoTransaction runs Up statement by statement outside a transaction
	// (goose's NO TRANSACTION), as CONCURRENTLY requires.
	NoTransaction bool `json:"no_transaction,omitempty"`
	// AuthorRisk is how risky a typical author believes this change is
	// (1..10), before the per-example noise and biases of RiskLabel.
	AuthorRisk float64 `json:"author_risk"`
}

// Render substitutes the table name into the statements.
func (t Template) Render(table string) (up, down []string) {
	r := strings.NewReplacer("{{t}}", table)
	for _, s := range t.Up {
		up = append(up, r.Replace(s))
	}
	for _, s := range t.Down {
		down = append(down, r.Replace(s))
	}
	return up, down
}

// The load (see load.go) reads id, customer_id, status and amount, writes
// amount and status, and inserts; note, qty and created_at are unused by it.
func tpl(id, family string, risk float64, up, down []string) Template {
	return Template{ID: id, Family: family, Up: up, Down: down, AuthorRisk: risk}
}

func noTx(t Template) Template { t.NoTransaction = true; return t }

func s(stmts ...string) []string { return stmts }

const noop = "SELECT 1"

// Templates is the catalog of migration templates, in a fixed order.
func Templates() []Template {
	return []Template{
		// Columns.
		tpl("add_nullable_column", "column", 2, s("ALTER TABLE {{t}} ADD COLUMN extra text"), s("ALTER TABLE {{t}} DROP COLUMN IF EXISTS extra")),
		tpl("add_column_constant_default", "column", 2, s("ALTER TABLE {{t}} ADD COLUMN flag boolean NOT NULL DEFAULT false"), s("ALTER TABLE {{t}} DROP COLUMN IF EXISTS flag")),
		tpl("add_column_volatile_default", "column", 3, s("ALTER TABLE {{t}} ADD COLUMN token uuid DEFAULT gen_random_uuid()"), s("ALTER TABLE {{t}} DROP COLUMN IF EXISTS token")),
		tpl("add_column_clock_default", "column", 3, s("ALTER TABLE {{t}} ADD COLUMN seen_at timestamptz NOT NULL DEFAULT clock_timestamp()"), s("ALTER TABLE {{t}} DROP COLUMN IF EXISTS seen_at")),
		tpl("add_column_bigserial", "column", 3, s("ALTER TABLE {{t}} ADD COLUMN seq bigserial"), s("ALTER TABLE {{t}} DROP COLUMN IF EXISTS seq")),
		tpl("add_generated_column", "column", 3, s("ALTER TABLE {{t}} ADD COLUMN amount_x2 numeric GENERATED ALWAYS AS (amount * 2) STORED"), s("ALTER TABLE {{t}} DROP COLUMN IF EXISTS amount_x2")),
		tpl("add_not_null_column_no_default", "column", 3, s("ALTER TABLE {{t}} ADD COLUMN required_code text NOT NULL"), s("ALTER TABLE {{t}} DROP COLUMN IF EXISTS required_code")),
		tpl("drop_unused_column", "column", 6, s("ALTER TABLE {{t}} DROP COLUMN note"), s("ALTER TABLE {{t}} ADD COLUMN IF NOT EXISTS note text")),
		tpl("drop_used_column", "column", 6, s("ALTER TABLE {{t}} DROP COLUMN amount"), s("ALTER TABLE {{t}} ADD COLUMN IF NOT EXISTS amount numeric(12,2) DEFAULT 0")),
		tpl("rename_unused_column", "column", 4, s("ALTER TABLE {{t}} RENAME COLUMN note TO memo"), s("ALTER TABLE {{t}} RENAME COLUMN memo TO note")),
		tpl("rename_used_column", "column", 4, s("ALTER TABLE {{t}} RENAME COLUMN status TO state"), s("ALTER TABLE {{t}} RENAME COLUMN state TO status")),
		tpl("set_column_default", "column", 1, s("ALTER TABLE {{t}} ALTER COLUMN status SET DEFAULT 'open'"), s("ALTER TABLE {{t}} ALTER COLUMN status SET DEFAULT 'new'")),
		tpl("drop_not_null", "column", 2, s("ALTER TABLE {{t}} ALTER COLUMN qty DROP NOT NULL"), s("ALTER TABLE {{t}} ALTER COLUMN qty SET NOT NULL")),
		tpl("set_not_null", "column", 4, s("ALTER TABLE {{t}} ALTER COLUMN amount SET NOT NULL"), s("ALTER TABLE {{t}} ALTER COLUMN amount DROP NOT NULL")),
		tpl("set_not_null_with_nulls", "column", 4, s("ALTER TABLE {{t}} ALTER COLUMN note SET NOT NULL"), s("ALTER TABLE {{t}} ALTER COLUMN note DROP NOT NULL")),
		tpl("type_int_to_bigint", "column", 5, s("ALTER TABLE {{t}} ALTER COLUMN qty TYPE bigint"), s("ALTER TABLE {{t}} ALTER COLUMN qty TYPE integer")),
		tpl("type_widen_varchar", "column", 3, s("ALTER TABLE {{t}} ALTER COLUMN status TYPE varchar(40)"), s("ALTER TABLE {{t}} ALTER COLUMN status TYPE varchar(20)")),
		tpl("type_varchar_to_text", "column", 3, s("ALTER TABLE {{t}} ALTER COLUMN status TYPE text"), s("ALTER TABLE {{t}} ALTER COLUMN status TYPE varchar(20)")),
		tpl("type_numeric_to_double", "column", 5, s("ALTER TABLE {{t}} ALTER COLUMN amount TYPE double precision"), s("ALTER TABLE {{t}} ALTER COLUMN amount TYPE numeric(12,2)")),
		tpl("set_statistics", "column", 1, s("ALTER TABLE {{t}} ALTER COLUMN customer_id SET STATISTICS 500"), s("ALTER TABLE {{t}} ALTER COLUMN customer_id SET STATISTICS -1")),

		// Indexes.
		tpl("create_index", "index", 3, s("CREATE INDEX {{t}}_status_idx ON {{t}} (status)"), s("DROP INDEX IF EXISTS {{t}}_status_idx")),
		noTx(tpl("create_index_concurrently", "index", 2, s("CREATE INDEX CONCURRENTLY {{t}}_status_idx ON {{t}} (status)"), s("DROP INDEX IF EXISTS {{t}}_status_idx"))),
		tpl("create_unique_index", "index", 3, s("CREATE UNIQUE INDEX {{t}}_id_customer_uq ON {{t}} (id, customer_id)"), s("DROP INDEX IF EXISTS {{t}}_id_customer_uq")),
		noTx(tpl("create_unique_index_concurrently", "index", 2, s("CREATE UNIQUE INDEX CONCURRENTLY {{t}}_id_customer_uq ON {{t}} (id, customer_id)"), s("DROP INDEX IF EXISTS {{t}}_id_customer_uq"))),
		tpl("create_partial_index", "index", 3, s("CREATE INDEX {{t}}_open_idx ON {{t}} (customer_id) WHERE status = 'open'"), s("DROP INDEX IF EXISTS {{t}}_open_idx")),
		tpl("create_expression_index", "index", 3, s("CREATE INDEX {{t}}_lower_status_idx ON {{t}} (lower(status))"), s("DROP INDEX IF EXISTS {{t}}_lower_status_idx")),
		noTx(tpl("create_multicolumn_index_concurrently", "index", 2, s("CREATE INDEX CONCURRENTLY {{t}}_customer_created_idx ON {{t}} (customer_id, created_at)"), s("DROP INDEX IF EXISTS {{t}}_customer_created_idx"))),
		tpl("drop_unused_index", "index", 3, s("DROP INDEX {{t}}_created_idx"), s("CREATE INDEX IF NOT EXISTS {{t}}_created_idx ON {{t}} (created_at)")),
		noTx(tpl("drop_unused_index_concurrently", "index", 2, s("DROP INDEX CONCURRENTLY {{t}}_created_idx"), s("CREATE INDEX IF NOT EXISTS {{t}}_created_idx ON {{t}} (created_at)"))),
		tpl("drop_used_index", "index", 3, s("DROP INDEX {{t}}_customer_idx"), s("CREATE INDEX IF NOT EXISTS {{t}}_customer_idx ON {{t}} (customer_id)")),
		noTx(tpl("drop_used_index_concurrently", "index", 2, s("DROP INDEX CONCURRENTLY {{t}}_customer_idx"), s("CREATE INDEX IF NOT EXISTS {{t}}_customer_idx ON {{t}} (customer_id)"))),
		tpl("reindex", "index", 3, s("REINDEX INDEX {{t}}_customer_idx"), s(noop)),
		noTx(tpl("reindex_concurrently", "index", 2, s("REINDEX INDEX CONCURRENTLY {{t}}_customer_idx"), s(noop))),

		// Constraints.
		tpl("add_check", "constraint", 4, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_amount_chk CHECK (amount >= 0)"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_amount_chk")),
		tpl("add_check_not_valid", "constraint", 2, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_amount_chk CHECK (amount >= 0) NOT VALID"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_amount_chk")),
		tpl("add_check_not_valid_validate", "constraint", 3, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_amount_chk CHECK (amount >= 0) NOT VALID", "ALTER TABLE {{t}} VALIDATE CONSTRAINT {{t}}_amount_chk"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_amount_chk")),
		tpl("add_check_violated", "constraint", 4, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_qty_chk CHECK (qty > 3)"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_qty_chk")),
		tpl("add_foreign_key", "constraint", 4, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_customer_fk")),
		tpl("add_foreign_key_not_valid", "constraint", 2, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_customer_fk")),
		tpl("add_foreign_key_not_valid_validate", "constraint", 3, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID", "ALTER TABLE {{t}} VALIDATE CONSTRAINT {{t}}_customer_fk"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_customer_fk")),
		tpl("add_unique_constraint", "constraint", 4, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_id_customer_key UNIQUE (id, customer_id)"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_id_customer_key")),
		noTx(tpl("add_unique_constraint_using_index", "constraint", 3, s("CREATE UNIQUE INDEX CONCURRENTLY {{t}}_id_customer_key ON {{t}} (id, customer_id)", "ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_id_customer_key UNIQUE USING INDEX {{t}}_id_customer_key"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_id_customer_key", "DROP INDEX IF EXISTS {{t}}_id_customer_key"))),

		// Tables.
		tpl("create_table", "table", 1, s("CREATE TABLE {{t}}_audit (id bigserial PRIMARY KEY, order_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now())"), s("DROP TABLE IF EXISTS {{t}}_audit")),
		tpl("create_table_as_select", "table", 3, s("CREATE TABLE {{t}}_copy AS SELECT * FROM {{t}}"), s("DROP TABLE IF EXISTS {{t}}_copy")),
		tpl("create_view", "table", 1, s("CREATE VIEW {{t}}_open AS SELECT id, customer_id, amount FROM {{t}} WHERE status = 'open'"), s("DROP VIEW IF EXISTS {{t}}_open")),
		tpl("rename_table", "table", 5, s("ALTER TABLE {{t}} RENAME TO {{t}}_old"), s("ALTER TABLE IF EXISTS {{t}}_old RENAME TO {{t}}")),
		tpl("comment_on_table", "table", 1, s("COMMENT ON TABLE {{t}} IS 'customer orders'"), s("COMMENT ON TABLE {{t}} IS NULL")),
		tpl("set_fillfactor", "table", 2, s("ALTER TABLE {{t}} SET (fillfactor = 90)"), s("ALTER TABLE {{t}} RESET (fillfactor)")),
		tpl("set_autovacuum", "table", 1, s("ALTER TABLE {{t}} SET (autovacuum_vacuum_scale_factor = 0.05)"), s("ALTER TABLE {{t}} RESET (autovacuum_vacuum_scale_factor)")),
		noTx(tpl("vacuum_full", "table", 4, s("VACUUM FULL {{t}}"), s(noop))),
		tpl("cluster", "table", 4, s("CLUSTER {{t}} USING {{t}}_pkey"), s(noop)),
		tpl("analyze", "table", 1, s("ANALYZE {{t}}"), s(noop)),

		// Data.
		tpl("backfill_all_rows", "data", 4, s("UPDATE {{t}} SET qty = qty"), s(noop)),
		tpl("backfill_batch", "data", 2, s("UPDATE {{t}} SET qty = qty WHERE id <= 1000"), s(noop)),
		tpl("insert_seed_rows", "data", 1, s("INSERT INTO {{t}} (customer_id, status, amount) SELECT 1 + g % 100, 'seed', 0 FROM generate_series(1, 200) g"), s("DELETE FROM {{t}} WHERE status = 'seed'")),

		// Triggers.
		tpl("add_touch_trigger", "trigger", 3, s(
			"CREATE FUNCTION {{t}}_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$",
			"CREATE TRIGGER {{t}}_touch BEFORE UPDATE ON {{t}} FOR EACH ROW EXECUTE FUNCTION {{t}}_touch()"),
			s("DROP TRIGGER IF EXISTS {{t}}_touch ON {{t}}", "DROP FUNCTION IF EXISTS {{t}}_touch()")),
		tpl("add_audit_trigger", "trigger", 4, s(
			"CREATE TABLE {{t}}_log (id bigserial PRIMARY KEY, order_id bigint, amount numeric, at timestamptz DEFAULT now())",
			"CREATE FUNCTION {{t}}_log_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO {{t}}_log (order_id, amount) VALUES (NEW.id, NEW.amount); RETURN NEW; END $$",
			"CREATE TRIGGER {{t}}_log_trg AFTER UPDATE ON {{t}} FOR EACH ROW EXECUTE FUNCTION {{t}}_log_fn()"),
			s("DROP TRIGGER IF EXISTS {{t}}_log_trg ON {{t}}", "DROP FUNCTION IF EXISTS {{t}}_log_fn()", "DROP TABLE IF EXISTS {{t}}_log")),
	}
}
