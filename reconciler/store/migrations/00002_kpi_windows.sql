-- KPI source windows (rollout.SampleStore): cumulative counters kept between
-- samples so a restarted leader can finish a bake window.

-- +goose Up
CREATE TABLE kpi_windows (
    key text        PRIMARY KEY,
    val bytea       NOT NULL,
    at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kpi_windows_at ON kpi_windows (at);

-- +goose Down
DROP TABLE kpi_windows;
