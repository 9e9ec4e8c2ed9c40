-- expect: irreversible-migration
-- +goose Up
ALTER TABLE orders ADD COLUMN note text;

-- +goose Down
-- +goose StatementBegin
SELECT 'NOT SUPPORTED';
-- +goose StatementEnd
