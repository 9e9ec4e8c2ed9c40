-- ---
-- risk: 2
-- ---
-- +goose Up
-- +goose ENVSUB ON
CREATE ROLE ${APP_ROLE:-app_reader};
-- +goose ENVSUB OFF
SELECT '${not_substituted}';
-- +goose down
DROP ROLE ${APP_ROLE:-app_reader};
