-- ---
-- risk: 3
-- owner: checkout
-- ticket: SHOP-140
-- ---
-- Since PostgreSQL 11 a constant DEFAULT is stored in the catalog: no table
-- rewrite, only a brief ACCESS EXCLUSIVE lock. The CHECK is added NOT VALID so
-- existing rows are not scanned under that lock.
-- +goose Up
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'placed';
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('placed', 'paid', 'shipped', 'cancelled')) NOT VALID;

-- +goose Down
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders DROP COLUMN status;
