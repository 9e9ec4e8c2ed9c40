package analysis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// TestReportSchemas: the report lists the schemas a file names explicitly
// in relation names, Up and Down, and not those of qualified functions.
func TestReportSchemas(t *testing.T) {
	cases := map[string]string{
		"ALTER TABLE orders ADD COLUMN note text;\n-- +goose Down\nALTER TABLE orders DROP COLUMN note;":                      "",
		"ALTER TABLE public.orders ADD COLUMN note text;\n-- +goose Down\nALTER TABLE orders DROP COLUMN note;":               "public",
		"CREATE INDEX orders_x ON orders (x);\n-- +goose Down\nDROP INDEX public.orders_x;":                                   "public",
		"CREATE TABLE audit.log (id bigint);\nINSERT INTO log SELECT public.gen_id();\n-- +goose Down\nDROP TABLE audit.log;": "audit",
		"ALTER TABLE orders ADD FOREIGN KEY (c) REFERENCES shared.customers (id);\n-- +goose Down\nSELECT 1;":                 "shared",
	}
	for body, want := range cases {
		m, err := migration.ParseMigration("migrations/0001_x.sql", []byte("-- ---\n-- risk: 2\n-- ---\n-- +goose Up\n"+body+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Analyze(context.Background(), *m)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(rep.Schemas, ","); got != want {
			t.Errorf("%q: schemas %q, want %q", body, got, want)
		}
	}
}

// TestDataCheckInSchema: a check moved to a tenant's schema reads the
// tenant's table (and the referenced one), with its query built again.
func TestDataCheckInSchema(t *testing.T) {
	fk := DataCheck{Kind: DataCheckForeignKey, Table: "public.orders", Columns: []string{"c"}, RefTable: "public.customers", RefColumns: []string{"id"}}
	fk.Query = fk.staticQuery()
	got, err := fk.InSchema("public", "t_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Table != "t_1.orders" || got.RefTable != "t_1.customers" || !strings.Contains(got.Query, `FROM "t_1"."orders" c`) ||
		!strings.Contains(got.Query, `FROM "t_1"."customers" p`) || strings.Contains(got.Query, "public") {
		t.Errorf("moved check %+v", got)
	}
	// A foreign key to a table the file creates empty reads the tenant's
	// referencing rows only.
	empty := DataCheck{Kind: DataCheckForeignKey, Table: "public.orders", Columns: []string{"c"}, RefTable: "public.customers_v2", RefEmpty: true}
	if got, _ := empty.InSchema("public", "t_1"); got.RefTable != "t_1.customers_v2" || !strings.Contains(got.Query, `FROM "t_1"."orders" c WHERE c."c" IS NOT NULL LIMIT 1`) {
		t.Errorf("moved check on an empty referenced table %+v", got)
	}
	shared := DataCheck{Kind: DataCheckUnique, Table: "ops.flags", Columns: []string{"k"}}
	if got, _ := shared.InSchema("public", "t_1"); got.Table != "ops.flags" || !strings.Contains(got.Query, `"ops"."flags"`) {
		t.Errorf("a table outside public moved: %+v", got)
	}
	if _, err := (DataCheck{Kind: DataCheckCheck, Table: "public.orders", Query: "SELECT 1 FROM public.orders WHERE NOT (x > 0)"}).InSchema("public", "t_1"); err == nil {
		t.Error("a CHECK stored without its expression was moved")
	}
}

// TestTenantTarget: a schema-per-tenant target reads the tenant's tables
// for the report's public.* names: its catalog finds them, its data checks
// read the tenant's rows (the dirty tenant fails, the clean one passes),
// and its dry run runs the unqualified Up in the tenant's schema; public
// holds nothing, so any name resolved there would fail.
func TestTenantTarget(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := pgtest.NewDatabase(t)
	for _, s := range []string{"t_dirty", "t_clean"} {
		pgtest.Exec(t, dsn, "CREATE SCHEMA "+s, "CREATE TABLE "+s+".users (id bigint PRIMARY KEY, email text)")
	}
	pgtest.Exec(t, dsn, "INSERT INTO t_dirty.users VALUES (1, 'a@x'), (2, 'a@x'), (3, 'b@x')", "ANALYZE t_dirty.users")
	for _, tc := range []struct {
		schema string
		fails  bool
	}{{"t_dirty", true}, {"t_clean", false}} {
		tg, err := OpenTarget(ctx, dsn, WithTargetSchema(tc.schema),
			WithTargetCatalog(WithSampleInterval(0), WithThroughput(Throughput{RewriteBytesPerSec: 50e6, ScanBytesPerSec: 500e6})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tg.Close)
		rep := inspect(t, tg, "ALTER TABLE users ADD CONSTRAINT users_email_uq UNIQUE (email);", false)
		if st := rep.Context["public.users"]; !st.Exists {
			t.Errorf("%s: the catalog did not find the tenant's users: %+v", tc.schema, rep.Context)
		}
		if got := findingsOf(rep, "data-check-failed"); (len(got) > 0) != tc.fails {
			t.Errorf("%s: data-check-failed %q, want fired %v", tc.schema, got, tc.fails)
		}
		if got := findingsOf(rep, "check-not-run", "dry-run-failed"); len(got) > 0 || rep.Live.DryRun != CheckPassed {
			t.Errorf("%s: dry run %s, %q", tc.schema, rep.Live.DryRun, got)
		}
	}
	if _, err := OpenTarget(ctx, dsn, WithTargetSchema("Tenant One")); err == nil {
		t.Error("a schema name that needs quoting was accepted")
	}
}

// TestDSNSearchPath: both DSN forms carry a tenant's search_path to the
// server, after the options they had.
func TestDSNSearchPath(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u@h:5432/db?sslmode=disable":                        "-c search_path=t_a",
		"host=h port=5432 dbname=db user=u":                             "-c search_path=t_a",
		"postgres://u@h/db?options=-c%20work_mem%3D8MB":                 "-c work_mem=8MB -c search_path=t_a",
		"host=h dbname=db options='-c work_mem=8MB' application_name=x": "-c work_mem=8MB -c search_path=t_a",
	} {
		got, err := libpqDSN(dsn, "search_path=t_a")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := pgconn.ParseConfig(got)
		if err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		if o := cfg.RuntimeParams["options"]; o != want || cfg.Database != "db" {
			t.Errorf("%s -> %s: options %q, database %q; want options %q", dsn, got, o, cfg.Database, want)
		}
	}
}
