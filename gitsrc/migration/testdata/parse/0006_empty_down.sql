-- ---
-- risk: 1
-- ---
-- +goose Up
SELECT 1;
-- +goose Down
