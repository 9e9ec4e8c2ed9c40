-- +goose Up
-- The whole assessment of a change (analysis report, gate, features,
-- prediction), stored when it is predicted; every later step reads it.
ALTER TABLE predictions ADD COLUMN assessment jsonb;

-- +goose Down
ALTER TABLE predictions DROP COLUMN assessment;
