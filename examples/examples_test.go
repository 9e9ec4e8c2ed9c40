package examples

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for goose
	"github.com/pressly/goose/v3"
	"gopkg.in/yaml.v3"

	"github.com/schemacanary/schemacanary/internal/app"
	"github.com/schemacanary/schemacanary/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// migrationFiles reads every .sql file of dir, sorted by name.
func migrationFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	if len(out) == 0 {
		t.Fatalf("no migrations in %s", dir)
	}
	return out
}

func TestExampleMigrationsParseStrictly(t *testing.T) {
	t.Parallel()
	base := migrationFiles(t, "migrations")
	if len(base) < 12 {
		t.Errorf("examples/migrations has %d files, want at least 12", len(base))
	}
	demo := migrationFiles(t, "demo")
	if len(demo) != 3 {
		t.Errorf("examples/demo has %d files, want 3 (safe, harmful, risky)", len(demo))
	}
	var maxBase, minDemo int64 = 0, 1 << 62
	var sawNoTx, sawConcurrently, sawNotValid, sawValidate, sawBatches bool
	for _, set := range []struct {
		dir   string
		files map[string][]byte
	}{{"migrations", base}, {"demo", demo}} {
		for name, src := range set.files {
			m, err := migration.ParseMigration(filepath.Join(set.dir, name), src)
			if err != nil {
				t.Errorf("%s/%s: %v", set.dir, name, err)
				continue
			}
			if m.FrontMatter.Owner == "" || m.FrontMatter.Ticket == "" {
				t.Errorf("%s: owner and ticket should be set in examples", name)
			}
			if !m.Sections.HasDown || len(m.Sections.Up) == 0 {
				t.Errorf("%s: needs an Up statement and a Down section", name)
			}
			if set.dir == "migrations" && m.Version > maxBase {
				maxBase = m.Version
			}
			if set.dir == "demo" && m.Version < minDemo {
				minDemo = m.Version
			}
			sawNoTx = sawNoTx || m.Sections.NoTransaction
			up := strings.ToUpper(string(src))
			sawConcurrently = sawConcurrently || strings.Contains(up, "INDEX CONCURRENTLY")
			sawNotValid = sawNotValid || strings.Contains(up, "NOT VALID")
			sawValidate = sawValidate || strings.Contains(up, "VALIDATE CONSTRAINT")
			sawBatches = sawBatches || strings.Contains(up, "COMMIT;")
		}
	}
	if minDemo <= maxBase {
		t.Errorf("demo versions must follow the base history: first demo %d <= last base %d", minDemo, maxBase)
	}
	for what, ok := range map[string]bool{"NO TRANSACTION": sawNoTx, "INDEX CONCURRENTLY": sawConcurrently,
		"NOT VALID": sawNotValid, "VALIDATE CONSTRAINT": sawValidate, "batched backfill": sawBatches} {
		if !ok {
			t.Errorf("no example shows %s", what)
		}
	}
}

// provider opens a goose Provider over the given files on a fresh database.
func provider(t *testing.T, files map[string][]byte) (*goose.Provider, *sql.DB) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name] = &fstest.MapFile{Data: src}
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fs.FS(fsys))
	if err != nil {
		t.Fatal(err)
	}
	return p, db
}

func TestExampleMigrationsApplyRevertApply(t *testing.T) {
	t.Parallel()
	files := migrationFiles(t, "migrations")
	for name, src := range migrationFiles(t, "demo") {
		files[name] = src
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	p, db := provider(t, files)
	ctx := context.Background()

	// Up to the loyalty column, then seed rows so the backfill and the
	// constraints have real data to work on.
	if _, err := p.UpTo(ctx, 10); err != nil {
		t.Fatalf("up to 10: %v", err)
	}
	seed := []string{
		`INSERT INTO customers (email, full_name) SELECT 'c' || g || '@example.com', 'Customer ' || g FROM generate_series(1, 12000) g`,
		`INSERT INTO products (sku, name, price_cents) SELECT 'SKU-' || g, 'Product ' || g, 100 + g FROM generate_series(1, 200) g`,
		`INSERT INTO orders (customer_id, total_cents) SELECT 1 + (g % 3000), 500 + g FROM generate_series(1, 30000) g`,
		`INSERT INTO order_items (order_id, line_no, product_id, quantity, price_cents) SELECT id, 1, 1 + (id % 200), 1, 300 FROM orders`,
		`INSERT INTO payments (order_id, amount_cents) SELECT id, total_cents FROM orders WHERE id % 2 = 0`,
	}
	for _, q := range seed {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	var missing, gold int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE loyalty_tier IS NULL), count(*) FILTER (WHERE loyalty_tier = 'gold') FROM customers`).Scan(&missing, &gold); err != nil {
		t.Fatal(err)
	}
	if missing != 0 || gold != 3000 {
		t.Errorf("backfill: %d customers without a tier, %d gold; want 0 and 3000", missing, gold)
	}
	checkVersion(t, p, int64(len(names)))
	for _, idx := range []string{"orders_customer_id_idx", "order_items_product_id_idx"} {
		var valid sql.NullBool
		_ = db.QueryRowContext(ctx, `SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`, idx).Scan(&valid)
		want := idx != "orders_customer_id_idx" // the demo's harmful change drops it
		if valid.Valid != want {
			t.Errorf("index %s present = %v, want %v", idx, valid.Valid, want)
		}
	}

	// Every down section, newest first, back to an empty schema.
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	checkVersion(t, p, 0)
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables left after reverting everything", tables)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	checkVersion(t, p, int64(len(names)))
}

func checkVersion(t *testing.T, p *goose.Provider, want int64) {
	t.Helper()
	got, err := p.GetDBVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("database version %d, want %d", got, want)
	}
}

func TestExampleConfigLoadsStrictly(t *testing.T) {
	t.Parallel()
	cfg, err := app.LoadConfig("schemacanary.yaml")
	if err != nil {
		t.Fatalf("examples/schemacanary.yaml: %v", err)
	}
	if len(cfg.Fleet.Instances) != 4 || cfg.Forge.Kind != app.ForgeGitHub || cfg.Canary.KPIs.Prometheus == nil {
		t.Errorf("the example config lost options: %d instances, forge %q", len(cfg.Fleet.Instances), cfg.Forge.Kind)
	}
	// "every option": each key of the config structs appears in the example.
	b, err := os.ReadFile("schemacanary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range yamlKeys(reflect.TypeOf(app.Config{})) {
		if !regexp.MustCompile(`(?m)^\s*(#\s*)?(- )?` + regexp.QuoteMeta(key) + `:`).Match(b) {
			t.Errorf("examples/schemacanary.yaml does not show the key %q", key)
		}
	}
}

// yamlKeys lists the yaml keys of a struct type, recursively.
func yamlKeys(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() == "time" {
		return nil
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, name)
		out = append(out, yamlKeys(f.Type)...)
	}
	return out
}

func TestGitHubWorkflowExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("github-workflow.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On   map[string]any `yaml:"on"`
		Jobs map[string]struct {
			RunsOn string `yaml:"runs-on"`
			Steps  []struct {
				Name string `yaml:"name"`
				Uses string `yaml:"uses"`
				Run  string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatalf("github-workflow.yml: %v", err)
	}
	if _, ok := wf.On["pull_request"]; !ok {
		t.Error("the workflow must run on pull_request")
	}
	var runs strings.Builder
	for name, j := range wf.Jobs {
		if j.RunsOn == "" || len(j.Steps) == 0 {
			t.Errorf("job %s: runs-on and steps are required", name)
		}
		for _, s := range j.Steps {
			if s.Uses == "" && s.Run == "" {
				t.Errorf("job %s step %q: neither uses nor run", name, s.Name)
			}
			runs.WriteString(s.Run + "\n")
		}
	}
	for _, cmd := range []string{"schemacanary lint", "schemacanary predict"} {
		if !strings.Contains(runs.String(), cmd) {
			t.Errorf("the workflow does not run %q", cmd)
		}
	}
}
