-- ---
-- risk: 2
-- owner: payments
-- ticket: PAY-17
-- ---
-- The foreign key to orders is added later, NOT VALID first (00008, 00009),
-- the way it would be on a table that already holds years of payments.
-- +goose Up
CREATE TABLE payments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id      bigint      NOT NULL,
    amount_cents  bigint      NOT NULL,
    provider      text        NOT NULL DEFAULT 'card',
    captured_at   timestamptz
);

-- +goose Down
DROP TABLE payments;
