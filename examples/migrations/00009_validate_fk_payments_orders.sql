-- ---
-- risk: 3
-- owner: payments
-- ticket: PAY-23
-- ---
-- Step 2 of 2: VALIDATE scans payments under SHARE UPDATE EXCLUSIVE, which
-- lets reads and writes continue.
-- +goose Up
ALTER TABLE payments VALIDATE CONSTRAINT payments_order_id_fkey;
ALTER TABLE orders VALIDATE CONSTRAINT orders_status_check;

-- +goose Down
-- A validated constraint cannot be made NOT VALID again, and it needs not be:
-- 00008's down drops it. Nothing to undo here.
SELECT 1;
