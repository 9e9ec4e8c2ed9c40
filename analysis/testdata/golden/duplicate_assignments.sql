-- expect: ban-duplicate-column-assignments
-- Array subscripts and fields: equal paths are duplicates, different ones
-- are not; a subscript that is an arbitrary expression is never assumed equal.
-- +goose Up
UPDATE t SET a[1] = 1, a[2] = 2;
UPDATE t SET b[1] = 1, b[1] = 2;
UPDATE t SET c[1:2] = '{}', c[1] = 3;
UPDATE t SET d[i] = 1, d[i] = 2;
UPDATE t SET e[f(1)] = 1, e[f(1)] = 2;
UPDATE t SET g.x = 1, g = ROW(1);
INSERT INTO t (h[$1], h[$1]) VALUES (1, 2);

-- +goose Down
SELECT 1;
