-- ---
-- risk: 2
-- owner: checkout
-- ticket: SHOP-104
-- ---
-- +goose Up
CREATE TABLE order_items (
    order_id     bigint  NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no      integer NOT NULL,
    product_id   bigint  NOT NULL REFERENCES products (id),
    quantity     integer NOT NULL CHECK (quantity > 0),
    price_cents  integer NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- +goose Down
DROP TABLE order_items;
