-- expect: !syntax-error !irreversible-migration
-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION orders_touch() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_touch();

-- +goose Down
DROP TRIGGER orders_touch ON orders;
-- +goose StatementBegin
DROP FUNCTION orders_touch();
-- +goose StatementEnd
