-- expect: !ban-concurrent-index-creation-in-transaction !require-concurrent-index-creation !prefer-robust-stmts
-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_created_idx ON orders (created_at);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS orders_created_idx;
