-- ---
-- risk: 1
-- owner: accounts
-- ticket: SHOP-101
-- ---
-- A brand-new table: nothing reads or writes it yet, so no lock can hurt.
-- +goose Up
CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text        NOT NULL UNIQUE,
    full_name   text        NOT NULL,
    country     char(2)     NOT NULL DEFAULT 'US',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE customers;
