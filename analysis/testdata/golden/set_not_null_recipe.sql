-- expect: !adding-not-nullable-field constraint-missing-not-valid
-- +goose Up
ALTER TABLE orders ADD CONSTRAINT customer_id_nn CHECK (customer_id IS NOT NULL) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT customer_id_nn;
ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;
ALTER TABLE orders DROP CONSTRAINT customer_id_nn;

-- +goose Down
ALTER TABLE orders ALTER COLUMN customer_id DROP NOT NULL;
