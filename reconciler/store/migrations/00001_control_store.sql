-- Control store schema of the schemacanary reconciler. Migrated by goose
-- (embedded in the binary) when the daemon starts.

-- +goose Up
-- One row per change request: a migration merged on the watched branch.
CREATE TABLE change_requests (
    version       bigint PRIMARY KEY,
    name          text        NOT NULL,
    path          text        NOT NULL,
    sha256        text        NOT NULL,
    merge_commit  text        NOT NULL DEFAULT '',
    author        text        NOT NULL DEFAULT '',
    message       text        NOT NULL DEFAULT '',
    pr            integer     NOT NULL DEFAULT 0,
    merged_at     timestamptz,
    risk          integer     NOT NULL DEFAULT 0,
    source        bytea       NOT NULL,
    tables        text[]      NOT NULL DEFAULT '{}',
    state         text        NOT NULL,
    wave          integer     NOT NULL DEFAULT 0,
    reason        text        NOT NULL DEFAULT '',
    confidence    double precision,
    approved_by   text        NOT NULL DEFAULT '',
    skipped_by    text        NOT NULL DEFAULT '',
    revert_branch text        NOT NULL DEFAULT '',
    revert_pr     integer     NOT NULL DEFAULT 0,
    instances     jsonb       NOT NULL DEFAULT '{}',
    attempts      integer     NOT NULL DEFAULT 0,
    checkpoint    jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX change_requests_state ON change_requests (state);

-- Every state transition, in order; audited flips once the audit branch holds it.
CREATE TABLE transitions (
    id         bigserial PRIMARY KEY,
    version    bigint      NOT NULL REFERENCES change_requests (version),
    from_state text        NOT NULL,
    to_state   text        NOT NULL,
    wave       integer     NOT NULL DEFAULT 0,
    reason     text        NOT NULL DEFAULT '',
    at         timestamptz NOT NULL DEFAULT now(),
    audited    boolean     NOT NULL DEFAULT false
);
CREATE INDEX transitions_unaudited ON transitions (id) WHERE NOT audited;
CREATE INDEX transitions_version ON transitions (version, id);

-- Predictions, for merged changes (version) and open PRs (pr, sha256).
CREATE TABLE predictions (
    id            bigserial PRIMARY KEY,
    version       bigint           NOT NULL,
    pr            integer          NOT NULL DEFAULT 0,
    sha256        text             NOT NULL,
    confidence    double precision NOT NULL,
    model_version text             NOT NULL,
    reasons       jsonb            NOT NULL DEFAULT '[]',
    features      jsonb            NOT NULL DEFAULT '{}',
    created_at    timestamptz      NOT NULL DEFAULT now(),
    UNIQUE (version, pr, sha256)
);

-- Side effects on instances, keyed (change, instance, step) so each happens once.
CREATE TABLE rollout_events (
    id       bigserial PRIMARY KEY,
    version  bigint      NOT NULL,
    instance text        NOT NULL,
    step     text        NOT NULL,
    outcome  text        NOT NULL,
    detail   jsonb       NOT NULL DEFAULT '{}',
    at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (version, instance, step)
);

-- Historical KPI samples; pruned by age and count (control.kpi_retention, kpi_max_rows).
CREATE TABLE kpi_samples (
    id       bigserial PRIMARY KEY,
    version  bigint           NOT NULL,
    instance text             NOT NULL,
    kpi      text             NOT NULL,
    role     text             NOT NULL,
    value    double precision NOT NULL,
    at       timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX kpi_samples_at ON kpi_samples (at);
CREATE INDEX kpi_samples_version ON kpi_samples (version);

-- One row per rolled back change.
CREATE TABLE rollbacks (
    version     bigint PRIMARY KEY,
    reason      text        NOT NULL,
    instances   jsonb       NOT NULL DEFAULT '{}',
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    detail      jsonb       NOT NULL DEFAULT '{}'
);

-- Trained models; the newest active one predicts.
CREATE TABLE models (
    id         bigserial PRIMARY KEY,
    version    text        NOT NULL UNIQUE,
    examples   integer     NOT NULL,
    metrics    jsonb       NOT NULL DEFAULT '{}',
    blob       bytea       NOT NULL,
    trained_at timestamptz NOT NULL DEFAULT now()
);

-- Approvals recorded by `schemacanary approve` or read from the forge.
CREATE TABLE approvals (
    version bigint      NOT NULL,
    by_name text        NOT NULL,
    source  text        NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version, by_name)
);

-- Operator skips (`schemacanary skip VERSION`), possibly before the change is seen.
CREATE TABLE skips (
    version bigint PRIMARY KEY,
    by_name text        NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);

-- Bad inputs (rejected files), reported once per file content.
CREATE TABLE rejections (
    path        text        NOT NULL,
    sha256      text        NOT NULL,
    kind        text        NOT NULL,
    version     bigint      NOT NULL DEFAULT 0,
    line        integer     NOT NULL DEFAULT 0,
    message     text        NOT NULL,
    commit      text        NOT NULL DEFAULT '',
    reported    boolean     NOT NULL DEFAULT false,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (path, sha256, kind)
);

-- Single-row cursor: the last commit of the watched branch fully ingested.
CREATE TABLE cursor (
    id     integer PRIMARY KEY CHECK (id = 1),
    commit text        NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE cursor;
DROP TABLE rejections;
DROP TABLE skips;
DROP TABLE approvals;
DROP TABLE models;
DROP TABLE rollbacks;
DROP TABLE kpi_samples;
DROP TABLE rollout_events;
DROP TABLE predictions;
DROP TABLE transitions;
DROP TABLE change_requests;
