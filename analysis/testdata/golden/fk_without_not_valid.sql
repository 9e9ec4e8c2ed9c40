-- expect: adding-foreign-key-constraint constraint-missing-not-valid
-- +goose Up
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);

-- +goose Down
ALTER TABLE orders DROP CONSTRAINT orders_customer_fk;
