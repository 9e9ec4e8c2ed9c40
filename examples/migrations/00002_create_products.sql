-- ---
-- risk: 1
-- owner: catalog
-- ticket: SHOP-102
-- ---
-- +goose Up
CREATE TABLE products (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku          text    NOT NULL UNIQUE,
    name         text    NOT NULL,
    price_cents  integer NOT NULL CHECK (price_cents >= 0),
    stock        integer NOT NULL DEFAULT 0,
    active       boolean NOT NULL DEFAULT true
);

-- +goose Down
DROP TABLE products;
