-- ---
-- risk: 5
-- ---
-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION touch() RETURNS trigger AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TABLE t (id int, updated_at timestamptz);

-- +goose Down
-- +goose StatementBegin
DROP FUNCTION touch();
-- +goose StatementEnd
DROP TABLE t;
