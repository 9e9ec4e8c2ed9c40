-- expect: ban-concurrent-index-creation-in-transaction !require-concurrent-index-creation
-- +goose Up
CREATE INDEX CONCURRENTLY orders_created_idx ON orders (created_at);

-- +goose Down
DROP INDEX CONCURRENTLY orders_created_idx;
