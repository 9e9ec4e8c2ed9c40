package analysis

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// workloadTarget seeds a database with a hot workload (pg_stat_statements
// records it) and returns a target on it, with hypopg installed.
func workloadTarget(t *testing.T) (*Target, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS hypopg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("hypopg: %v (CI installs postgresql-15-hypopg)", err)
		}
		t.Skipf("hypopg not installed: %v", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, status text, note text, total numeric);
INSERT INTO orders (customer_id, status, note, total) SELECT g % 5000, 'new', 'n', g FROM generate_series(1, 100000) g;
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE INDEX orders_unused_idx ON orders (total);
ANALYZE orders;
SELECT pg_stat_statements_reset()`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		if _, err := conn.Exec(ctx, "SELECT id, status, note FROM orders WHERE customer_id = $1", i); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO orders (customer_id, status) VALUES ($1, 'new')", i); err != nil {
			t.Fatal(err)
		}
	}
	tg, err := OpenTarget(ctx, dsn, WithDryRun(false), WithDataChecks(false),
		WithTargetCatalog(WithSampleInterval(0), WithThroughput(Throughput{RewriteBytesPerSec: 50e6, ScanBytesPerSec: 300e6})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	return tg, dsn
}

// TestWorkloadView: on a seeded workload, dropping a column the hot query
// selects breaks it (a certain failure); dropping the index it uses makes
// its estimated cost rise at least tenfold; dropping an unused index
// changes no plan; a new index shows the queries that would use it; and
// the plan check holds no lock stronger than a SELECT's.
func TestWorkloadView(t *testing.T) {
	tg, dsn := workloadTarget(t)
	hot := "SELECT id, status, note FROM orders WHERE customer_id = $1"

	rep := inspect(t, tg, "ALTER TABLE orders DROP COLUMN note;", false)
	if len(rep.Live.Broken) != 1 || !strings.Contains(rep.Live.Broken[0].Query, "customer_id") || !strings.Contains(rep.Live.Broken[0].Why, "orders.note") {
		t.Errorf("drop of a selected column: broken %+v (of %d statements)", rep.Live.Broken, rep.Live.Statements)
	}
	if g := rep.Gate(); !g.Failed() || g.Fails[0].RuleID != "breaks-workload-queries" {
		t.Errorf("gate %+v", g)
	}
	rep = inspect(t, tg, "ALTER TABLE orders ADD COLUMN region text NOT NULL;", false)
	if len(rep.Live.Broken) != 1 || !strings.Contains(rep.Live.Broken[0].Query, "INSERT") {
		t.Errorf("new NOT NULL column without default: broken %+v", rep.Live.Broken)
	}
	if rep = inspect(t, tg, "ALTER TABLE orders DROP COLUMN total;", false); len(rep.Live.Broken) != 0 {
		t.Errorf("drop of a column no statement uses: broken %+v", rep.Live.Broken)
	}
	if rep = inspect(t, tg, "ALTER TABLE orders RENAME TO orders_v2;", false); len(rep.Live.Broken) != 2 {
		t.Errorf("rename of the table both statements use: broken %+v", rep.Live.Broken)
	}
	// A name Up creates again is not gone: a rename with a compatibility
	// view, a column dropped and added back.
	if rep = inspect(t, tg, "ALTER TABLE orders RENAME TO orders_v2;\nCREATE VIEW orders AS SELECT * FROM orders_v2;", false); len(rep.Live.Broken) != 0 {
		t.Errorf("rename with a compatibility view: broken %+v", rep.Live.Broken)
	}
	if rep = inspect(t, tg, "ALTER TABLE orders DROP COLUMN note;\nALTER TABLE orders ADD COLUMN note text;", false); len(rep.Live.Broken) != 0 {
		t.Errorf("column dropped and added back: broken %+v", rep.Live.Broken)
	}

	// Watch the plan check's locks from another session while it runs.
	var (
		mu    sync.Mutex
		modes = map[string]bool{}
		stop  = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		for {
			select {
			case <-stop:
				return
			default:
			}
			rows, err := conn.Query(ctx, `SELECT l.mode FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE a.application_name = $1 AND l.locktype = 'relation'`, planApplicationName)
			if err != nil {
				return
			}
			for rows.Next() {
				var m string
				if rows.Scan(&m) == nil {
					mu.Lock()
					modes[m] = true
					mu.Unlock()
				}
			}
			rows.Close()
		}
	}()
	dropUsed := inspect(t, tg, "DROP INDEX CONCURRENTLY IF EXISTS orders_customer_idx;", true)
	dropUnused := inspect(t, tg, "DROP INDEX CONCURRENTLY IF EXISTS orders_unused_idx;", true)
	create := inspect(t, tg, "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_idx ON orders (customer_id, status);", true)
	close(stop)
	<-done

	var rise *PlanChange
	for i, pc := range dropUsed.Live.PlanChanges {
		if strings.HasPrefix(pc.Query, hot[:30]) {
			rise = &dropUsed.Live.PlanChanges[i]
		}
	}
	if rise == nil || rise.Ratio < 10 || !strings.Contains(rise.NodesBefore, "orders_customer_idx") || strings.Contains(rise.NodesAfter, "orders_customer_idx") {
		t.Fatalf("dropping the hot query's index: %+v (check %s: %s)", dropUsed.Live.PlanChanges, dropUsed.Live.PlanCheck, dropUsed.Live.PlanNote)
	}
	t.Logf("dropping orders_customer_idx: %s cost %.1f -> %.1f (%.0fx), %s -> %s", rise.Query, rise.CostBefore, rise.CostAfter, rise.Ratio, rise.NodesBefore, rise.NodesAfter)
	if dropUnused.Live.PlanCheck != CheckPassed || len(dropUnused.Live.PlanChanges) != 0 {
		t.Errorf("dropping an unused index: %s, %+v", dropUnused.Live.PlanCheck, dropUnused.Live.PlanChanges)
	}
	var uses bool
	for _, pc := range create.Live.PlanChanges {
		uses = uses || strings.Contains(pc.NodesAfter, "orders_status_idx (hypothetical)")
	}
	if !uses {
		t.Errorf("CREATE INDEX: no statement would use it: %+v (%s)", create.Live.PlanChanges, create.Live.PlanNote)
	}

	// An index on a column or a table the file itself adds first cannot be
	// built hypothetically (the target does not have it): it is left out,
	// and the file's other index changes are still compared.
	mixed := inspect(t, tg, `ALTER TABLE orders ADD COLUMN region text;
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_region_idx ON orders (lower(region)) WHERE status = 'new';
DROP INDEX CONCURRENTLY IF EXISTS orders_customer_idx;`, true)
	if mixed.Live.PlanCheck != CheckPassed || !strings.Contains(mixed.Live.PlanNote, "not compared") || !strings.Contains(mixed.Live.PlanNote, "orders_region_idx") {
		t.Errorf("index on a column the file adds, beside a drop: check %s: %s", mixed.Live.PlanCheck, mixed.Live.PlanNote)
	}
	var still bool
	for _, pc := range mixed.Live.PlanChanges {
		still = still || (strings.HasPrefix(pc.Query, hot[:30]) && pc.Ratio >= 10)
	}
	if !still {
		t.Errorf("the drop beside an index on a new column: no plan change found: %+v", mixed.Live.PlanChanges)
	}
	for _, up := range []string{
		"ALTER TABLE orders ADD COLUMN region text;\nCREATE INDEX orders_region_idx ON orders (region);",
		"CREATE TABLE regions (id int, name text);\nCREATE INDEX regions_name_idx ON regions (name);",
		"ALTER TABLE orders RENAME COLUMN note TO memo;\nCREATE INDEX orders_memo_idx ON orders (customer_id) INCLUDE (memo);",
	} {
		rep := inspect(t, tg, up, false)
		if rep.Live.PlanCheck != CheckSkipped || !strings.Contains(rep.Live.PlanNote, "not compared") {
			t.Errorf("%q: check %s: %s", up, rep.Live.PlanCheck, rep.Live.PlanNote)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for m := range modes {
		if m != "AccessShareLock" {
			t.Errorf("the plan check took %s", m)
		}
	}
	if !modes["AccessShareLock"] {
		t.Log("no lock of the plan check was sampled (it ran between samples)")
	}
}

// RecheckBroken judges stored broken statements again by the current
// rules, offline: a rename still breaks a statement on the table, a rename
// with a compatibility view under the old name does not.
func TestRecheckBrokenOffline(t *testing.T) {
	ctx := context.Background()
	cat := StaticCatalog{"public.orders": {Name: "public.orders", Exists: true, Rows: 1000}}
	stored := []BrokenStatement{
		{WorkloadStatement: WorkloadStatement{Query: "UPDATE orders SET status = $2 WHERE id = $1"}, Why: "reads public.orders, which the change renames"},
		{WorkloadStatement: WorkloadStatement{Query: "SELECT 1 FROM customers WHERE id = $1"}, Why: "not about the change"},
	}
	for _, c := range []struct {
		up   string
		want int
	}{
		{"ALTER TABLE orders RENAME TO orders_v2;", 1},
		{"ALTER TABLE orders RENAME TO orders_v2;\nCREATE VIEW orders AS SELECT * FROM orders_v2;", 0},
	} {
		m := loadTestMigration("00001_change.sql", []byte("-- +goose Up\n"+c.up+"\n-- +goose Down\nSELECT 1;\n"))
		rep, err := Analyze(ctx, m, WithCatalog(cat))
		if err != nil {
			t.Fatal(err)
		}
		got := rep.RecheckBroken(stored)
		if len(got) != c.want {
			t.Errorf("%q: %d broken statements (%+v), want %d", c.up, len(got), got, c.want)
		}
		if c.want == 1 && (got[0].Line != 2 || !strings.Contains(got[0].Why, "renames")) {
			t.Errorf("%q: %+v", c.up, got[0])
		}
	}
}
