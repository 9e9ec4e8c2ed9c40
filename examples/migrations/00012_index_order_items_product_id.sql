-- ---
-- risk: 3
-- owner: catalog
-- ticket: SHOP-150
-- ---
-- "Who bought this product" reports. Built without blocking writes.
-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS order_items_product_id_idx ON order_items (product_id);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS order_items_product_id_idx;
