-- expect: dml-without-where ban-truncate ban-truncate-cascade ban-drop-table
-- +goose Up
DELETE FROM sessions;
UPDATE orders SET region = 'eu';
TRUNCATE carts;
TRUNCATE customers CASCADE;
DROP TABLE legacy_orders;

-- +goose Down
SELECT 1;
