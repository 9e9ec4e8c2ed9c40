-- ---
-- risk: 7
-- owner: checkout
-- ticket: SHOP-182
-- ---
-- The demo's risky change: every order gets a public id for the new receipts
-- page. A NOT NULL column with a volatile default (gen_random_uuid()) cannot
-- live in the catalog: PostgreSQL rewrites orders, the busiest table, under an
-- ACCESS EXCLUSIVE lock, and every checkout read and write waits for it. The
-- model sees the table's size and traffic and the lock it would hold, so the
-- confidence is low and the change waits for `schemacanary approve`. At the
-- demo's size the rewrite takes a fraction of a second, so the reviewer
-- approves it and it rolls out.
-- +goose Up
ALTER TABLE orders ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();

-- +goose Down
ALTER TABLE orders DROP COLUMN public_id;
