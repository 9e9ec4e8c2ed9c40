-- +goose Up
-- A change is parsed once, at ingest, and planned once, when it is
-- assessed; later steps read these instead of parsing or planning again.
-- migration: the parsed goose file (gitsrc/migration.Migration, without
-- its bytes, which stay in source). plan: the rollout.Change the assessment
-- planned (tables, locks, archive of what the Down section drops).
ALTER TABLE change_requests ADD COLUMN migration jsonb;
ALTER TABLE predictions ADD COLUMN plan jsonb;

-- +goose Down
ALTER TABLE predictions DROP COLUMN plan;
ALTER TABLE change_requests DROP COLUMN migration;
