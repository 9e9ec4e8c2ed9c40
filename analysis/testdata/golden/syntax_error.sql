-- expect: syntax-error require-concurrent-index-creation
-- +goose Up
ALTER TABLE orders ADD COLUMN note text;
ALTER TABLE orders
    ADD COLUMN ;
CREATE INDEX orders_note_idx ON orders (note);

-- +goose Down
ALTER TABLE orders DROP COLUMN note;
