-- ---
-- risk: 2
-- ---
-- +goose Up
CREATE TABLE a (id int);
CREATE TABLE b (id int)
-- +goose Down
DROP TABLE b;
DROP TABLE a;
