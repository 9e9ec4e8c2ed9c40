-- +goose Up
-- Operators' releases of changes held inconclusive (`schemacanary promote`).
CREATE TABLE releases (
    version bigint      PRIMARY KEY,
    by_name text        NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE releases;
