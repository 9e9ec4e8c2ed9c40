-- ---
-- risk: 8
-- owner: catalog
-- ticket: SHOP-182
-- ---
-- The demo's risky change: a column type change rewrites the table under an
-- ACCESS EXCLUSIVE lock. products is small, so it is harmless here, but the
-- model cannot know the author checked: confidence is low and the change waits
-- for `schemacanary approve`.
-- +goose Up
ALTER TABLE products ALTER COLUMN price_cents TYPE bigint;

-- +goose Down
ALTER TABLE products ALTER COLUMN price_cents TYPE integer;
