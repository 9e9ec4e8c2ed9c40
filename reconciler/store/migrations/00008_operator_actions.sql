-- +goose Up
-- Operators' commands on a change being rolled out (pause, resume, abort,
-- promote_now, exclude, include), in the order given; the rollout folds
-- them (change.Fold), the flush step writes each to the audit branch.
CREATE TABLE operator_actions (
    id      bigserial   PRIMARY KEY,
    version bigint      NOT NULL,
    command text        NOT NULL,
    target  text        NOT NULL DEFAULT '',
    wave    int         NOT NULL DEFAULT 0,
    state   text        NOT NULL DEFAULT '',
    by_name text        NOT NULL,
    why     text        NOT NULL,
    source  text        NOT NULL DEFAULT '',
    at      timestamptz NOT NULL DEFAULT now(),
    audited boolean     NOT NULL DEFAULT false
);
CREATE INDEX operator_actions_version ON operator_actions (version, id);
CREATE INDEX operator_actions_unaudited ON operator_actions (id) WHERE NOT audited;

-- +goose Down
DROP TABLE operator_actions;
