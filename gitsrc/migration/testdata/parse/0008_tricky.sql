-- ---
-- risk: 2
-- ---

-- +goose Up
-- leading comments and blank lines are dropped

CREATE TABLE m1 (id int); CREATE TABLE m2 (id int);
CREATE TABLE m3 (
    -- a comment inside is kept
    id int, -- so is this; it does not end the statement
    body text DEFAULT '--not a comment'
);
-- +goose StatementBegin
DO $$
BEGIN
    PERFORM 1;
END
$$;
-- +goose StatementEnd
INSERT INTO m3 (id) VALUES (1)  ;
-- +goose Down
DROP TABLE m3; -- trailing
DROP TABLE m2, m1;
