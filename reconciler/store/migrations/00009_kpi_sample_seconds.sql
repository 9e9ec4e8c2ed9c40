-- +goose Up
-- A kpi_samples row is the mean of N samples of one instance, KPI and role
-- within one second (change.KPISample.N): the history grows with the time
-- a change was watched and the instances sampled, not with the probes'
-- rate. Rows written before hold one sample each.
ALTER TABLE kpi_samples ADD COLUMN n integer NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE kpi_samples DROP COLUMN n;
