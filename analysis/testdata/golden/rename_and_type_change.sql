-- expect: renaming-column renaming-table changing-column-type prefer-text-field
-- +goose Up
ALTER TABLE customers RENAME COLUMN name TO full_name;
ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2);
ALTER TABLE orders ALTER COLUMN code TYPE varchar(64);
ALTER TABLE user_stars RENAME TO user_favorites;

-- +goose Down
ALTER TABLE user_favorites RENAME TO user_stars;
ALTER TABLE orders ALTER COLUMN code TYPE varchar(32);
ALTER TABLE orders ALTER COLUMN amount TYPE integer;
ALTER TABLE customers RENAME COLUMN full_name TO name;
