-- expect: adding-field-with-default ban-drop-column
-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attname = 'token') THEN
        EXECUTE 'ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()';
    END IF;
    ALTER TABLE orders DROP COLUMN legacy;
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE orders DROP COLUMN IF EXISTS token;
ALTER TABLE orders ADD COLUMN legacy text;
