-- ---
-- risk: 3
-- owner: payments
-- ticket: PAY-31
-- ---
-- Add the CHECK NOT VALID (brief lock, no scan), then VALIDATE it (a scan that
-- does not block writes). Both in one transaction: the ACCESS EXCLUSIVE lock
-- of ADD CONSTRAINT is held during the scan, which is acceptable on payments'
-- size here; split them in two files on a large table, as 00008/00009 do.
-- +goose Up
ALTER TABLE payments ADD CONSTRAINT payments_amount_positive CHECK (amount_cents > 0) NOT VALID;
ALTER TABLE payments VALIDATE CONSTRAINT payments_amount_positive;

-- +goose Down
ALTER TABLE payments DROP CONSTRAINT payments_amount_positive;
