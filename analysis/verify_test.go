package analysis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		file     string
		wantRule string // "" = verified clean
		wantDiff string // a line expected in DownDiff
	}{
		{name: "inverse", file: `-- +goose Up
ALTER TABLE orders ADD COLUMN note text;
CREATE INDEX orders_note_idx ON orders (note);
-- +goose Down
DROP INDEX orders_note_idx;
ALTER TABLE orders DROP COLUMN note;
`},
		{name: "down leaves a table behind", wantRule: "verify-schema-drift", wantDiff: "+ CREATE TABLE public.shipments (", file: `-- +goose Up
CREATE TABLE shipments (id bigint PRIMARY KEY);
CREATE INDEX shipments_id_idx ON shipments (id);
-- +goose Down
DROP INDEX shipments_id_idx;
`},
		{name: "down fails", wantRule: "verify-failed", file: `-- +goose Up
ALTER TABLE orders ADD COLUMN note text;
-- +goose Down
ALTER TABLE orders DROP COLUMN notes;
`},
		{name: "up fails on the real schema", wantRule: "verify-failed", file: `-- +goose Up
ALTER TABLE orders ADD COLUMN id bigint;
-- +goose Down
SELECT 1;
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dsn := pgtest.NewDatabase(t)
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, `CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL);
				CREATE INDEX orders_customer_idx ON orders (customer_id)`); err != nil {
				t.Fatal(err)
			}
			m := gooseSplit(tc.name+".sql", []byte(tc.file))
			res, err := Verify(ctx, dsn, m, WithPgBinDir(pgtest.Shared(t).BinDir()))
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(res.Findings) > 0 {
				got = res.Findings[0].RuleID
			}
			if got != tc.wantRule {
				t.Fatalf("finding %q, want %q: %+v steps %+v", got, tc.wantRule, res.Findings, res.Steps)
			}
			if tc.wantDiff != "" && !containsPrefix(res.DownDiff, tc.wantDiff) {
				t.Errorf("DownDiff %q lacks %q", res.DownDiff, tc.wantDiff)
			}
			// The target is only read: its schema is unchanged.
			var cols int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders'`).Scan(&cols); err != nil {
				t.Fatal(err)
			}
			if cols != 2 {
				t.Errorf("target orders has %d columns after verify, want 2", cols)
			}
			var tables int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
				t.Fatal(err)
			}
			if tables != 1 {
				t.Errorf("target has %d tables after verify, want 1", tables)
			}
		})
	}
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
