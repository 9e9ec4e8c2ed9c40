-- ---
-- risk: 2
-- owner: checkout
-- ticket: SHOP-171
-- ---
-- The demo's harmful change. The author read idx_scan = 0 on a replica and
-- believed the index unused, but the primary's hottest query ("my orders":
-- WHERE customer_id = $1 ORDER BY created_at DESC) needs it. Without it every
-- lookup scans the whole orders table: the canary's latency KPI degrades, the
-- judge rejects the change and schemacanary rolls it back.
-- +goose Up
DROP INDEX orders_customer_id_idx;

-- +goose Down
CREATE INDEX orders_customer_id_idx ON orders (customer_id, created_at DESC);
