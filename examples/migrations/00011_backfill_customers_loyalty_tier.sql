-- ---
-- risk: 4
-- owner: marketing
-- ticket: MKT-89
-- bake: 2m
-- ---
-- Backfill in batches of 5,000 rows, committing after each batch, so no
-- transaction holds row locks on customers for long and autovacuum keeps up.
-- A DO block may COMMIT only outside a transaction block: NO TRANSACTION.
-- +goose NO TRANSACTION
-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    done bigint;
BEGIN
    LOOP
        UPDATE customers c
           SET loyalty_tier = CASE WHEN t.n >= 10 THEN 'gold'
                                   WHEN t.n >= 3  THEN 'silver'
                                   ELSE 'standard' END
          FROM (SELECT c2.id, count(o.id) AS n
                  FROM customers c2
                  LEFT JOIN orders o ON o.customer_id = c2.id
                 WHERE c2.id IN (SELECT id FROM customers
                                  WHERE loyalty_tier IS NULL
                                  ORDER BY id LIMIT 5000)
                 GROUP BY c2.id) t
         WHERE c.id = t.id;
        GET DIAGNOSTICS done = ROW_COUNT;
        COMMIT;
        EXIT WHEN done = 0;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- The column goes away with 00010's down; clearing it here would only churn
-- rows. Nothing to undo.
SELECT 1;
