-- expect: down-not-inverse lossy-down
-- +goose Up
CREATE TABLE shipments (id bigint PRIMARY KEY, order_id bigint NOT NULL);
CREATE INDEX shipments_order_idx ON shipments (order_id);
CREATE TYPE shipment_state AS ENUM ('new', 'sent');
ALTER TABLE orders ADD COLUMN shipped_at timestamptz;

-- +goose Down
DROP TABLE shipments;
