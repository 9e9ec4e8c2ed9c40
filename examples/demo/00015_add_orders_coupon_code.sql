-- ---
-- risk: 2
-- owner: checkout
-- ticket: SHOP-160
-- ---
-- The demo's safe change: a nullable column, catalog-only, no rewrite.
-- +goose Up
ALTER TABLE orders ADD COLUMN coupon_code text;

-- +goose Down
ALTER TABLE orders DROP COLUMN coupon_code;
