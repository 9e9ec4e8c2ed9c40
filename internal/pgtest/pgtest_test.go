package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewDatabaseIsFreshAndHasStatStatements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		dsn := NewDatabase(t)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'marker'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("database %d is not fresh", i)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE marker (id int)"); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_statements").Scan(&n); err != nil {
			t.Fatalf("pg_stat_statements not usable: %v", err)
		}
		conn.Close(ctx)
	}
}

func TestFleetStartsAndStopCleansUp(t *testing.T) {
	t.Parallel()
	fleet := NewFleet(t, "fleet", 2)
	if fleet[0].Port == fleet[1].Port {
		t.Fatal("two clusters share a port")
	}
	ctx := context.Background()
	for _, c := range fleet {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		var lib string
		if err := conn.QueryRow(ctx, "SHOW shared_preload_libraries").Scan(&lib); err != nil {
			t.Fatal(err)
		}
		if lib != "pg_stat_statements" {
			t.Fatalf("shared_preload_libraries = %q", lib)
		}
		conn.Close(ctx)
	}
	dir := fleet[0].Dir
	if err := fleet[0].Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cluster dir %s still exists after Stop: %v", dir, err)
	}
	if _, err := pgx.Connect(ctx, fleet[0].DSN("postgres")); err == nil {
		t.Fatal("server still accepts connections after Stop")
	}
}
