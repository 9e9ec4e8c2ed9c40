package rollout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout/kpi"
)

func TestPlanOnMapsTheDefaultSchemaToTheTenant(t *testing.T) {
	p := &Plan{Version: 7, Name: "x", Tables: []string{"public.items", "audit.log"},
		Archive:    []ArchiveTarget{{Schema: "public", Table: "items", Column: "note"}, {Schema: "audit", Table: "log"}},
		Indexes:    []IndexRef{{Schema: "public", Table: "items", Name: "items_v_idx"}, {Table: "items"}},
		DataChecks: []DataCheck{{Table: "public.items", What: "dup"}}}
	same, err := p.On(Instance{Name: "db"})
	if err != nil || same != p {
		t.Fatalf("a database target got a different plan: %v", err)
	}
	q, err := p.On(Instance{Name: "t42", Schema: "tenant_42"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(q.Tables, ","); got != "tenant_42.items,audit.log" {
		t.Errorf("tables %s", got)
	}
	if q.Archive[0].Schema != "tenant_42" || q.Archive[1].Schema != "audit" {
		t.Errorf("archive %+v", q.Archive)
	}
	if q.Indexes[0].Schema != "tenant_42" || q.Indexes[1].Schema != "tenant_42" {
		t.Errorf("indexes %+v", q.Indexes)
	}
	if q.DataChecks[0].Table != "tenant_42.items" {
		t.Errorf("data checks %+v", q.DataChecks)
	}
	if p.Tables[0] != "public.items" || p.Archive[0].Schema != "public" || p.DataChecks[0].Table != "public.items" {
		t.Error("On changed the plan it was given")
	}
	if again, err := q.On(Instance{Name: "t42", Schema: "tenant_42"}); err != nil || strings.Join(again.Tables, ",") != strings.Join(q.Tables, ",") {
		t.Errorf("On is not idempotent: %v %v", again.Tables, err)
	}
	p.Schemas = []string{"public"}
	if _, err := p.On(Instance{Name: "t42", Schema: "tenant_42"}); !errors.Is(err, ErrQualifiedForTenant) ||
		!strings.Contains(err.Error(), "write the names unqualified") {
		t.Errorf("a change naming public on a tenant: %v", err)
	}
	if _, err := p.On(Instance{Name: "db"}); err != nil {
		t.Errorf("a change naming public on a database target: %v", err)
	}
}

func TestTenantSchemaNames(t *testing.T) {
	for _, bad := range []string{"public", "pg_temp", "information_schema", ArchiveSchema, " t", strings.Repeat("x", 64)} {
		if checkSchemaName(bad) == nil {
			t.Errorf("schema %q accepted", bad)
		}
	}
	for _, good := range []string{"", "tenant_1", "Tenant One"} {
		if err := checkSchemaName(good); err != nil {
			t.Errorf("schema %q refused: %v", good, err)
		}
	}
	in := Instance{Schema: "tenant_1"}
	if in.gooseTable("goose_db_version") != "tenant_1.goose_db_version" || in.gooseTable("ops.versions") != "ops.versions" {
		t.Error("goose table of a tenant")
	}
	if (Instance{}).gooseTable("goose_db_version") != "goose_db_version" {
		t.Error("goose table of a database target")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "t.yaml")
	if err := os.WriteFile(f, []byte("- {name: a, dsn: 'postgres://x/db', schema: tenant_a}\n- {name: b, dsn: 'postgres://x/db', schema: pg_b}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := fileTargets(filepath.Join(dir, "*.yaml"), func(string) {})
	if err == nil || !strings.Contains(err.Error(), `t.yaml:2: b: schema "pg_b" is reserved`) {
		t.Errorf("target file with a reserved schema: %v", err)
	}
}

// tenantDB is one database holding a shop schema per tenant (items, 100
// rows) and nothing in public, so that a name resolved outside the
// tenant's schema fails instead of passing unnoticed.
func tenantDB(t *testing.T, tenants ...string) string {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	for _, s := range tenants {
		pgtest.Exec(t, dsn, "CREATE SCHEMA "+s,
			fmt.Sprintf("CREATE TABLE %s.items (id bigserial PRIMARY KEY, v int NOT NULL, payload text)", s),
			fmt.Sprintf("INSERT INTO %s.items (v, payload) SELECT g, md5(g::text) FROM generate_series(1, 100) g", s),
			fmt.Sprintf("CREATE INDEX items_v_idx ON %s.items (v)", s))
	}
	return dsn
}

func tenantFleet(t *testing.T, dsn string, tenants ...string) *Fleet {
	t.Helper()
	var ins []Instance
	for i, s := range tenants {
		in := Instance{Name: s, DSN: dsn, Schema: s}
		if i == 0 {
			in.Group = "canary"
		}
		ins = append(ins, in)
	}
	fleet, err := NewFleet(ins, FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	if err != nil {
		t.Fatal(err)
	}
	return fleet
}

// TestTenantFleetRollsOutAndBackPerSchema: three tenants of one database
// are three targets. The unqualified change lands in each tenant's schema,
// each with its own goose table, nothing in public; a rollback on one
// tenant archives that tenant's column under a name that says whose it
// was, and leaves the others as they are.
func TestTenantFleetRollsOutAndBackPerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tenants := []string{"t_a", "t_b", "t_c"}
	dsn := tenantDB(t, tenants...)
	var mu sync.Mutex
	var events []Event
	// The probe's unqualified SQL fails unless it runs in a tenant's schema.
	c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "p", SQL: "SELECT count(*) FROM items", Rate: 20})
	ch := testChange(920, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;", []string{"public.items"}, "AccessExclusiveLock")
	ch.Archive = []ArchiveTarget{{Schema: "public", Table: "items", Column: "note"}}
	res, err := c.Run(ctx, tenantFleet(t, dsn, tenants...), ch, nil)
	if err != nil || res.Status != StatusPromoted {
		t.Fatalf("rollout: %v, %s: %s", err, res.Status, res.Reason)
	}
	for _, s := range tenants {
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'items' AND column_name = 'note'", s); n != 1 {
			t.Errorf("%s.items has no column note", s)
		}
		if n := pgtest.QueryInt(t, dsn, fmt.Sprintf("SELECT count(*) FROM %s.goose_db_version WHERE version_id = 920 AND is_applied", s)); n != 1 {
			t.Errorf("%s's goose table does not hold 920", s)
		}
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"); n != 0 {
		t.Errorf("%d table(s) appeared in public", n)
	}
	mu.Lock()
	for _, e := range events {
		if e.Err != nil && strings.Contains(e.Err.Error(), "does not exist") {
			t.Errorf("event %s: %v", e.Step, e.Err)
		}
	}
	mu.Unlock()

	pgtest.Exec(t, dsn, "UPDATE t_b.items SET note = 'kept ' || id WHERE id <= 10")
	rb, err := NewRollbacker(RollbackConfig{Fence: FenceDatabase, AppRoles: []string{"app"}}, fastCanary())
	if err != nil {
		t.Fatal(err)
	}
	r, err := rb.Rollback(ctx, Instance{Name: "t_b", DSN: dsn, Schema: "t_b"}, ch, "test")
	if err != nil {
		t.Fatal(err)
	}
	if r.Fence != FenceTables || len(r.Fenced) != 1 || r.Fenced[0] != "t_b.items" {
		t.Errorf("fence %s on %v: want the tenant's table, not its database", r.Fence, r.Fenced)
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM schemacanary_archive.t_b__items__v920 WHERE note LIKE 'kept %'"); n != 10 {
		t.Errorf("archive holds %d of t_b's 10 notes", n)
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 't_b' AND column_name = 'note'"); n != 0 {
		t.Error("t_b still has the column")
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM t_b.goose_db_version WHERE version_id = 920"); n != 0 {
		t.Error("t_b's goose table still holds 920")
	}
	for _, s := range []string{"t_a", "t_c"} {
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND column_name = 'note'", s); n != 1 {
			t.Errorf("the rollback of t_b touched %s", s)
		}
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database()"); n != 0 {
		t.Error("a tenant's rollback fenced its whole database")
	}

	// The look-ups share a few sessions of the database (readers.go), each
	// reading its own tenant's goose table whatever the session read before.
	for i := 0; i < 3; i++ {
		for _, in := range c.States(ctx, tenantFleet(t, dsn, tenants...), 920) {
			if in.Err != nil || in.Applied != (in.Instance != "t_b") {
				t.Errorf("round %d: %s applied=%v err=%v", i, in.Instance, in.Applied, in.Err)
			}
		}
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1", ApplicationName); n > readerConns {
		t.Errorf("%d sessions of schemacanary on the tenants' database, want at most %d", n, readerConns)
	}
	c.Close()
	left := -1
	for deadline := time.Now().Add(5 * time.Second); left != 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		// A backend leaves pg_stat_activity shortly after its client hangs up.
		left = pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1", ApplicationName)
	}
	if left != 0 {
		t.Errorf("%d sessions left after Close", left)
	}
}

// TestTenantPreflight: tenants are compared with the canary tenant by the
// plan's names (their own are different), so a tenant whose table drifted
// stops the wave with a diff naming the object, and identical tenants do
// not; a change that names public explicitly is refused on the first
// tenant before anything is applied anywhere.
func TestTenantPreflight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tenants := []string{"t_a", "t_b", "t_c"}
	t.Run("drift", func(t *testing.T) {
		t.Parallel()
		dsn := tenantDB(t, tenants...)
		pgtest.Exec(t, dsn, "ALTER TABLE t_c.items ADD COLUMN extra int")
		var mu sync.Mutex
		var events []Event
		c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "p", SQL: "SELECT 1", Rate: 20})
		ch := testChange(921, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;", []string{"public.items"}, "AccessExclusiveLock")
		res, err := c.Run(ctx, tenantFleet(t, dsn, tenants...), ch, nil)
		var pfe *PreflightError
		if !errors.As(err, &pfe) || pfe.Instance != "t_c" || pfe.Check != PreflightDrift {
			t.Fatalf("err %v (%s: %s); want t_c's drift", err, res.Status, res.Reason)
		}
		if want := "public.items: column extra integer on t_c, not on the canary before the change"; !strings.Contains(res.Reason, want) {
			t.Errorf("reason %q does not say %q", res.Reason, want)
		}
		if strings.Contains(res.Reason, "t_b") || strings.Contains(res.Reason, "index") {
			t.Errorf("identical tenants reported as drifted: %s", res.Reason)
		}
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note' AND table_schema IN ('t_b', 't_c')"); n != 0 {
			t.Error("the wave was touched")
		}
	})
	t.Run("qualified", func(t *testing.T) {
		t.Parallel()
		dsn := tenantDB(t, tenants...)
		var mu sync.Mutex
		var events []Event
		c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "p", SQL: "SELECT 1", Rate: 20})
		ch := testChange(922, "add_note", "ALTER TABLE public.items ADD COLUMN note text;", "ALTER TABLE public.items DROP COLUMN note;", []string{"public.items"}, "AccessExclusiveLock")
		ch.Schemas = []string{"public"}
		res, err := c.Run(ctx, tenantFleet(t, dsn, tenants...), ch, nil)
		var pfe *PreflightError
		if !errors.As(err, &pfe) || pfe.Instance != "t_a" || pfe.Check != PreflightQualified || res.Status != StatusFailed {
			t.Fatalf("err %v (%s: %s); want the canary tenant refused", err, res.Status, res.Reason)
		}
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_tables WHERE tablename = 'goose_db_version'"); n != 0 {
			t.Error("a goose table was created: something was applied")
		}
	})
}
