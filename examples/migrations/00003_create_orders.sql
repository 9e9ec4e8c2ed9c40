-- ---
-- risk: 2
-- owner: checkout
-- ticket: SHOP-103
-- ---
-- +goose Up
CREATE TABLE orders (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint      NOT NULL REFERENCES customers (id),
    total_cents  bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE orders;
