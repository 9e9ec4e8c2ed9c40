-- ---
-- risk: 4
-- owner: payments
-- ticket: PAY-23
-- ---
-- Step 1 of 2: NOT VALID takes only a SHARE ROW EXCLUSIVE lock briefly and
-- checks new rows from now on; existing rows are validated in 00009.
-- +goose Up
ALTER TABLE payments
    ADD CONSTRAINT payments_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;

-- +goose Down
ALTER TABLE payments DROP CONSTRAINT payments_order_id_fkey;
