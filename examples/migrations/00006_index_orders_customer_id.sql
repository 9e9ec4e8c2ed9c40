-- ---
-- risk: 3
-- owner: checkout
-- ticket: SHOP-131
-- ---
-- "My orders" looks orders up by customer. CONCURRENTLY builds the index
-- without blocking writes; it cannot run inside a transaction, hence
-- NO TRANSACTION. IF NOT EXISTS lets a retry after a failed build succeed
-- (drop the INVALID index first if a build was interrupted).
-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx ON orders (customer_id, created_at DESC);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS orders_customer_id_idx;
