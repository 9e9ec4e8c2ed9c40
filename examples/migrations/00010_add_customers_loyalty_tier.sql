-- ---
-- risk: 2
-- owner: marketing
-- ticket: MKT-88
-- ---
-- A nullable column without a default: a catalog-only change.
-- +goose Up
ALTER TABLE customers ADD COLUMN loyalty_tier text;

-- +goose Down
ALTER TABLE customers DROP COLUMN loyalty_tier;
