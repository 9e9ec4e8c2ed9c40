-- expect: adding-not-nullable-field
-- +goose Up
ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;

-- +goose Down
ALTER TABLE orders ALTER COLUMN customer_id DROP NOT NULL;
