-- expect: adding-field-with-default lossy-down !irreversible-migration !down-not-inverse
-- ---
-- risk: 4
-- ---
-- +goose Up
ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();
ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';

-- +goose Down
ALTER TABLE orders DROP COLUMN region;
ALTER TABLE orders DROP COLUMN token;
