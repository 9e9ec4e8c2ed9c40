-- expect: constraint-missing-not-valid !adding-foreign-key-constraint
-- +goose Up
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk
    FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;

-- +goose Down
ALTER TABLE orders DROP CONSTRAINT orders_customer_fk;
