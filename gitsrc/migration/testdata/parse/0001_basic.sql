-- ---
-- risk: 3
-- owner: payments
-- ticket: DBA-142
-- bake: 15m
-- ---
-- +goose Up
-- a comment before the statement is dropped
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    total numeric NOT NULL -- trailing comment; not an end
);
CREATE INDEX orders_total ON orders (total); -- comment after the end

ALTER TABLE orders ADD COLUMN note text;

-- +goose Down
DROP TABLE orders;
