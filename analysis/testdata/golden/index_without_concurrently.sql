-- expect: require-concurrent-index-creation require-concurrent-index-deletion
-- +goose Up
CREATE INDEX orders_created_idx ON orders (created_at);

-- +goose Down
DROP INDEX orders_created_idx;
