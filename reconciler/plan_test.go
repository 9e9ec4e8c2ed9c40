package reconciler

import (
	"context"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout"
)

func TestPlanChange(t *testing.T) {
	t.Parallel()
	src := []byte(`-- ---
-- risk: 3
-- bake: 90s
-- ---
-- +goose Up
ALTER TABLE orders ADD COLUMN note text;
CREATE TABLE order_notes (id bigint PRIMARY KEY, body text);
-- +goose Down
DROP TABLE order_notes;
ALTER TABLE orders DROP COLUMN note;
`)
	m, err := migration.ParseMigration("migrations/0042_add_note.sql", src)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := analysis.Analyze(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	ch := PlanChange(m, rep)
	if err := ch.Validate(); err != nil {
		t.Fatal(err)
	}
	if ch.Version != 42 || ch.Name != "add_note" || ch.Filename() != "42_add_note.sql" || ch.Bake != 90*time.Second {
		t.Fatalf("identity: %+v", ch)
	}
	if ch.Lock != "AccessExclusiveLock" || ch.DownLock != "AccessExclusiveLock" {
		t.Fatalf("locks: up %q down %q", ch.Lock, ch.DownLock)
	}
	want := map[rollout.ArchiveTarget]bool{
		{Schema: "public", Table: "order_notes"}:            true,
		{Schema: "public", Table: "orders", Column: "note"}: true,
	}
	if len(ch.Archive) != len(want) {
		t.Fatalf("archive %v", ch.Archive)
	}
	for _, a := range ch.Archive {
		if !want[a] {
			t.Fatalf("unexpected archive target %v in %v", a, ch.Archive)
		}
	}
	hasOrders := false
	for _, tb := range ch.Tables {
		hasOrders = hasOrders || tb == "public.orders"
	}
	if !hasOrders {
		t.Fatalf("tables %v lack public.orders", ch.Tables)
	}
	if string(ch.Source) != string(src) {
		t.Fatal("source not passed through byte for byte")
	}
	if nilRep := PlanChange(m, nil); nilRep.Lock != "" || len(nilRep.Archive) != 0 || nilRep.Validate() != nil {
		t.Fatalf("nil report: %+v", nilRep)
	}
}

// TestPlanDataChecksRunOnEachTarget: the data checks the analysis finds go
// into the plan, and DataChecks answers them, with the prediction gate's
// own code, on each target's real rows: a tenant with duplicate emails
// fails the UNIQUE index's check, one without passes it.
func TestPlanDataChecksRunOnEachTarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := []byte(`-- ---
-- risk: 3
-- ---
-- +goose Up
CREATE UNIQUE INDEX users_email_key ON users (email);
ALTER TABLE users ALTER COLUMN nick SET NOT NULL;
-- +goose Down
ALTER TABLE users ALTER COLUMN nick DROP NOT NULL;
DROP INDEX users_email_key;
`)
	m, err := migration.ParseMigration("migrations/0043_users_email_key.sql", src)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := analysis.Analyze(ctx, *m)
	if err != nil {
		t.Fatal(err)
	}
	ch := PlanChange(m, rep)
	if len(ch.DataChecks) != 2 {
		t.Fatalf("plan data checks %+v, want the UNIQUE and the NOT NULL check", ch.DataChecks)
	}
	clean, dirty := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	for _, dsn := range []string{clean, dirty} {
		pgtest.Exec(t, dsn, "CREATE TABLE users (id int PRIMARY KEY, email text, nick text)",
			"INSERT INTO users SELECT g, 'u' || g || '@example.com', 'n' || g FROM generate_series(1, 100) g")
	}
	pgtest.Exec(t, dirty, "UPDATE users SET email = 'u1@example.com' WHERE id = 2")
	vs, err := DataChecks{}.CheckData(ctx, rollout.Instance{Name: "clean", DSN: clean}, ch.DataChecks)
	if err != nil || len(vs) != 0 {
		t.Fatalf("clean tenant: %+v, %v; want no violation", vs, err)
	}
	vs, err = DataChecks{}.CheckData(ctx, rollout.Instance{Name: "dirty", DSN: dirty}, ch.DataChecks)
	if err != nil || len(vs) != 1 || vs[0].Check.Table != "public.users" || vs[0].Check.What != "rows with a duplicate (email)" {
		t.Fatalf("dirty tenant: %+v, %v; want the duplicate emails", vs, err)
	}
	if _, err := (DataChecks{}).CheckData(ctx, rollout.Instance{Name: "gone", DSN: "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"}, ch.DataChecks); err == nil {
		t.Error("an unreachable target's checks returned no error")
	}

	// Schema-per-tenant: two tenants of one database, the dirty one with
	// a NULL nick; each tenant's checks read its own rows (the plan's
	// public.users is the tenant's users), and public holds no users.
	shared := pgtest.NewDatabase(t)
	for _, s := range []string{"t_clean", "t_dirty"} {
		pgtest.Exec(t, shared, "CREATE SCHEMA "+s, "CREATE TABLE "+s+".users (id int PRIMARY KEY, email text, nick text)",
			"INSERT INTO "+s+".users SELECT g, 'u' || g || '@example.com', 'n' || g FROM generate_series(1, 100) g")
	}
	pgtest.Exec(t, shared, "UPDATE t_dirty.users SET nick = NULL WHERE id = 7")
	for _, tenant := range []string{"t_clean", "t_dirty"} {
		in := rollout.Instance{Name: tenant, DSN: shared, Schema: tenant}
		on, err := ch.On(in)
		if err != nil {
			t.Fatal(err)
		}
		vs, err := DataChecks{}.CheckData(ctx, in, on.DataChecks)
		if err != nil {
			t.Fatalf("%s: %v", tenant, err)
		}
		if tenant == "t_clean" && len(vs) != 0 {
			t.Errorf("clean tenant: %+v", vs)
		}
		if tenant == "t_dirty" && (len(vs) != 1 || vs[0].Check.Table != "t_dirty.users" || vs[0].Check.What != "rows where nick is NULL") {
			t.Errorf("dirty tenant: %+v; want its NULL nick", vs)
		}
	}
}
