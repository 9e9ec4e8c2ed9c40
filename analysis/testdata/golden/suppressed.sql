-- expect: !ban-drop-column unused-ignore ban-drop-table
-- +goose Up
-- schemacanary:ignore ban-drop-column unused since release 42, archived in DBA-7
ALTER TABLE orders DROP COLUMN legacy;
-- schemacanary:ignore ban-drop-tabel typo keeps the finding
DROP TABLE old_orders;

-- +goose Down
ALTER TABLE orders ADD COLUMN legacy text;
CREATE TABLE old_orders (id bigint);
