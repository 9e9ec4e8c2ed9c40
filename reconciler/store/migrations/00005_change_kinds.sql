-- +goose Up
-- The kinds of hazard a change has (analysis.Report.HazardKinds), beside
-- its tables: the history feature "past rollbacks of this kind of change"
-- counts changes that share one.
ALTER TABLE change_requests ADD COLUMN kinds text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE change_requests DROP COLUMN kinds;
