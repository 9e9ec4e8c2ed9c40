package rollout

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// writer inserts rows with a note while the change is applied and records
// every (id, note) whose transaction committed.
type writer struct {
	mu      sync.Mutex
	written map[int64]string
	stop    chan struct{}
	done    chan struct{}
}

func startWriter(t *testing.T, dsn string) *writer {
	t.Helper()
	w := &writer{written: map[int64]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		ctx := context.Background()
		var conn *pgx.Conn
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				if conn != nil {
					conn.Close(ctx)
				}
				return
			default:
			}
			if conn == nil {
				c, err := pgx.Connect(ctx, dsn)
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				conn = c
			}
			note := fmt.Sprintf("note-%d", i)
			var id int64
			err := conn.QueryRow(ctx, "INSERT INTO orders (total, note) VALUES ($1, $2) RETURNING id", i, note).Scan(&id)
			if err == nil && i%3 == 0 {
				// Also overwrite an older row's note.
				var uid int64
				if conn.QueryRow(ctx, "UPDATE orders SET note = $1 WHERE id = (SELECT min(id) FROM orders WHERE note IS NOT NULL) RETURNING id", note+"-upd").Scan(&uid) == nil {
					w.mu.Lock()
					w.written[uid] = note + "-upd"
					w.mu.Unlock()
				}
			}
			if err != nil {
				if conn.IsClosed() {
					conn = nil
				}
				time.Sleep(5 * time.Millisecond)
				continue
			}
			w.mu.Lock()
			w.written[id] = note
			w.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return w
}

func (w *writer) finish() map[int64]string {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

func TestRollbackLosesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fence string
	}{
		{"fence tables", FenceTables},
		{"fence database", FenceDatabase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := pgtest.NewDatabase(t)
			dbname := strings.TrimPrefix(strings.Split(strings.Split(dsn, "/")[3], "?")[0], "")
			role := "app_" + strings.ReplaceAll(dbname, "-", "_")
			pgtest.Exec(t, dsn,
				"CREATE TABLE orders (id bigserial PRIMARY KEY, total int)",
				"INSERT INTO orders (total) SELECT generate_series(1, 1000)",
				"CREATE ROLE "+role+" LOGIN",
				"GRANT ALL ON orders, orders_id_seq TO "+role)
			appDSN := strings.Replace(dsn, "postgres://postgres@", "postgres://"+role+"@", 1)
			inst := Instance{Name: "db1", DSN: dsn}
			ch := testChange(42, "add_note", "ALTER TABLE orders ADD COLUMN note text;", "ALTER TABLE orders DROP COLUMN note;",
				[]string{"public.orders"}, "AccessExclusiveLock")
			ch.Archive = []ArchiveTarget{{Schema: "public", Table: "orders", Column: "note"}}
			a, err := NewApplier(fastCanary())
			if err != nil {
				t.Fatal(err)
			}
			rb, err := NewRollbacker(RollbackConfig{Fence: tt.fence, AppRoles: []string{role}, DrainTimeout: 200 * time.Millisecond}, fastCanary())
			if err != nil {
				t.Fatal(err)
			}
			for round := 1; round <= 2; round++ {
				if _, err := a.Apply(ctx, inst, ch); err != nil {
					t.Fatal(err)
				}
				w := startWriter(t, appDSN)
				time.Sleep(500 * time.Millisecond) // the bake
				res, err := rb.Rollback(ctx, inst, ch, "test: harmful")
				written := w.finish()
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Archived) != 1 || len(written) < 20 {
					t.Fatalf("round %d: archived %+v, %d values written", round, res.Archived, len(written))
				}
				want := `"schemacanary_archive"."orders__v42"`
				if round == 2 {
					want = `"schemacanary_archive"."orders__v42_2"`
				}
				if res.Archived[0].Table != want {
					t.Fatalf("archive table %s, want %s", res.Archived[0].Table, want)
				}
				conn, err := pgx.Connect(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				got := map[int64]string{}
				rows, err := conn.Query(ctx, "SELECT id, note FROM "+res.Archived[0].Table+" WHERE note IS NOT NULL")
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var id int64
					var note string
					if err := rows.Scan(&id, &note); err != nil {
						t.Fatal(err)
					}
					got[id] = note
				}
				conn.Close(ctx)
				for id, note := range written {
					if got[id] != note {
						t.Fatalf("round %d: row %d: wrote %q, archive has %q", round, id, note, got[id])
					}
				}
				if pgtest.QueryInt(t, dsn, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'note'") != 0 ||
					pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id = 42") != 0 {
					t.Fatal("down did not run or goose row remains")
				}
				if ro := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database()"); ro != 0 {
					t.Fatalf("database fence not lifted (%d settings)", ro)
				}
				again, err := rb.Rollback(ctx, inst, ch, "again")
				if err != nil || !again.AlreadyDone {
					t.Fatalf("second rollback not a no-op: %+v %v", again, err)
				}
			}
		})
	}
}

func TestRollbackWholeTableAndCommandRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	inst := Instance{Name: "db9", DSN: dsn}
	ch := testChange(77, "audit", "CREATE TABLE audit (id int, what text);", "DROP TABLE audit;", []string{"public.audit"}, "AccessExclusiveLock")
	ch.Archive = []ArchiveTarget{{Schema: "public", Table: "audit"}}
	out := filepath.Join(t.TempDir(), "restart")
	rb, err := NewRollbacker(RollbackConfig{Restart: RestartCommand, Command: `echo "$SCHEMACANARY_INSTANCE $SCHEMACANARY_VERSION" > ` + out}, fastCanary())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewApplier(fastCanary())
	if _, err := a.Apply(ctx, inst, ch); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, dsn, "INSERT INTO audit SELECT g, 'x' || g FROM generate_series(1, 250) g")
	res, err := rb.Rollback(ctx, inst, ch, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Archived) != 1 || res.Archived[0].Rows != 250 || res.Archived[0].Columns != nil {
		t.Fatalf("archive: %+v", res.Archived)
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM schemacanary_archive.audit__v77 WHERE what = 'x' || id"); n != 250 {
		t.Fatalf("archive holds %d rows", n)
	}
	b, err := os.ReadFile(out)
	if err != nil || strings.TrimSpace(string(b)) != "db9 77" {
		t.Fatalf("restart command output %q, %v", b, err)
	}
}

func TestRollbackAllowDataLossAndRestartSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pgtest.Exec(t, dsn, "CREATE TABLE t (id int PRIMARY KEY)", "CREATE ROLE app_rs LOGIN")
	inst := Instance{Name: "db1", DSN: dsn}
	ch := testChange(5, "c", "ALTER TABLE t ADD COLUMN c int;", "ALTER TABLE t DROP COLUMN c;", []string{"public.t"}, "")
	ch.Archive = []ArchiveTarget{{Table: "t", Column: "c"}}
	ch.AllowDataLoss = true
	a, _ := NewApplier(fastCanary())
	if _, err := a.Apply(ctx, inst, ch); err != nil {
		t.Fatal(err)
	}
	idle, err := pgx.Connect(ctx, strings.Replace(dsn, "postgres://postgres@", "postgres://app_rs@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(ctx)
	rb, _ := NewRollbacker(RollbackConfig{AppRoles: []string{"app_rs"}}, fastCanary())
	res, err := rb.Rollback(ctx, inst, ch, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Archived) != 0 || pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'schemacanary_archive'") != 0 {
		t.Fatalf("allow_data_loss still archived: %+v", res.Archived)
	}
	if !strings.Contains(res.Reset, "terminated 1 idle") {
		t.Fatalf("reset: %q", res.Reset)
	}
	if err := idle.Ping(ctx); err == nil {
		t.Fatal("idle app session survived restart: sessions")
	}
}

func TestDownSQL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src, want string
		envsub    bool
	}{
		{"-- +goose Up\nA;\n-- +goose Down\nB;\n", "B;\n\n", false},
		{"-- +goose Down\nB;\n-- +goose Up\nA;\n", "B;\n", false},
		{"-- +goose Up\nA;\n-- +goose Down\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- +goose StatementEnd\n",
			"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n\n", false},
		{"-- +goose ENVSUB ON\n-- +goose Up\nA;\n-- +goose Down\nB ${X};\n", "B ${X};\n\n", true},
	}
	for _, tt := range tests {
		ch := &Plan{Version: 1, Source: []byte(tt.src)}
		got, envsub, err := ch.DownSQL()
		if err != nil || got != tt.want || envsub != tt.envsub {
			t.Errorf("DownSQL(%q) = %q, %v, %v; want %q, %v", tt.src, got, envsub, err, tt.want, tt.envsub)
		}
	}
	if _, _, err := (&Plan{Version: 1, Source: []byte("-- +goose Up\nA;\n")}).DownSQL(); err == nil {
		t.Error("no Down section accepted")
	}
}

// A rollback with fence: database killed after its down committed but
// before it lifted the fence leaves the database read-only; the resumed
// rollback finds the change not applied and lifts the fence.
func TestResumedRollbackLiftsLeftoverFence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pgtest.Exec(t, dsn, "CREATE TABLE orders (id bigserial PRIMARY KEY, total int)")
	inst := Instance{Name: "db1", DSN: dsn}
	ch := testChange(42, "add_note", "ALTER TABLE orders ADD COLUMN note text;", "ALTER TABLE orders DROP COLUMN note;",
		[]string{"public.orders"}, "AccessExclusiveLock")
	a, err := NewApplier(fastCanary())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, inst, ch); err != nil {
		t.Fatal(err)
	}
	rb, err := NewRollbacker(RollbackConfig{Fence: FenceDatabase, AppRoles: []string{"app_nobody"}, DrainTimeout: 100 * time.Millisecond}, fastCanary())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Rollback(ctx, inst, ch, "test"); err != nil {
		t.Fatal(err)
	}
	// The crash: the fence is set again, as a rollback killed before its
	// unfence would have left it.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dbname string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&dbname); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{dbname}.Sanitize()+" SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	readOnly := func() string {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var v string
		if err := c.QueryRow(ctx, "SHOW default_transaction_read_only").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if readOnly() != "on" {
		t.Fatal("the leftover fence did not take")
	}
	res, err := rb.Rollback(ctx, inst, ch, "test (resumed)")
	if err != nil {
		t.Fatal(err)
	}
	if !res.AlreadyDone {
		t.Errorf("resumed rollback: %+v, want already done", res)
	}
	if got := readOnly(); got != "off" {
		t.Errorf("new sessions: default_transaction_read_only %s after the resumed rollback, want off", got)
	}
}
