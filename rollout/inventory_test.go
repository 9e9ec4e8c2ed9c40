package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout/kpi"
)

// inventoryDB creates an inventory database with a targets table holding
// rows, each (name, dsn, grp, labels JSON or ""), and returns a file
// holding its DSN (a dsn_file reference).
func inventoryDB(t *testing.T, rows ...[4]string) (dsn, dsnFile string) {
	t.Helper()
	dsn = pgtest.NewDatabase(t)
	pgtest.Exec(t, dsn, "CREATE TABLE targets (name text PRIMARY KEY, dsn text NOT NULL, grp text, labels jsonb, retired boolean NOT NULL DEFAULT false)")
	for _, r := range rows {
		insertTarget(t, dsn, r)
	}
	dsnFile = filepath.Join(t.TempDir(), "inventory.dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dsn, dsnFile
}

func insertTarget(t *testing.T, dsn string, r [4]string) {
	t.Helper()
	q := func(s string) string {
		if s == "" {
			return "NULL"
		}
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	pgtest.Exec(t, dsn, fmt.Sprintf("INSERT INTO targets (name, dsn, grp, labels) VALUES (%s, %s, %s, %s)", q(r[0]), q(r[1]), q(r[2]), q(r[3])))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const inventoryQuery = "SELECT name, dsn, grp, labels FROM targets WHERE NOT retired"

func names(ins []Instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.Name)
	}
	return out
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFleetResolveFromEverySource(t *testing.T) {
	t.Parallel()
	_, invFile := inventoryDB(t,
		[4]string{"inv-a", "postgres://inv-a", "canary", `{"region": "eu"}`},
		[4]string{"inv-b", "postgres://inv-b", "", ""})
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "static.dsn")
	writeFile(t, dsnFile, "postgres://static\n")
	targets := filepath.Join(dir, "targets")
	if err := os.Mkdir(targets, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(targets, "one.yaml"), "name: file-a\ndsn: postgres://file-a\ngroup: canary\nlabels: {region: us}\n")
	writeFile(t, filepath.Join(targets, "list.yaml"), "- {name: file-b, dsn_file: "+dsnFile+"}\n- {name: file-c, dsn: postgres://file-c}\n")
	writeFile(t, filepath.Join(targets, "ignored.txt"), "not a target")

	inv := &InventoryConfig{DSNFile: invFile, Query: inventoryQuery}
	glob := filepath.Join(targets, "*.yaml")
	tests := []struct {
		name string
		cfg  FleetConfig
		want []string
	}{
		{"inventory", FleetConfig{Inventory: inv}, []string{"inv-a", "inv-b"}},
		{"files", FleetConfig{Files: glob}, []string{"file-a", "file-b", "file-c"}},
		{"combined", FleetConfig{Instances: []InstanceConfig{{Name: "static", DSNFile: dsnFile}}, Inventory: inv, Files: glob},
			[]string{"file-a", "file-b", "file-c", "inv-a", "inv-b", "static"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Waves = []WaveConfig{{Select: "canary"}, {Select: "100%"}}
			var secrets []string
			fl, err := tt.cfg.ResolveContext(context.Background(), func(s string) { secrets = append(secrets, s) })
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Instance{}
			for _, in := range fl.Instances {
				got[in.Name] = in
			}
			if len(got) != len(tt.want) {
				t.Fatalf("instances %v, want %v", names(fl.Instances), tt.want)
			}
			for _, n := range tt.want {
				in, ok := got[n]
				if !ok {
					t.Fatalf("instances %v, want %v", names(fl.Instances), tt.want)
				}
				if in.DSN == "" || in.Source == "" || in.Group == "" {
					t.Errorf("%s: %+v", n, in)
				}
			}
			if in, ok := got["inv-a"]; ok && (in.Group != "canary" || in.Labels["region"] != "eu" || in.DSN != "postgres://inv-a") {
				t.Errorf("inv-a: %+v", in)
			}
			if in, ok := got["inv-b"]; ok && in.Group != DefaultGroup {
				t.Errorf("inv-b: NULL group should be %s: %+v", DefaultGroup, in)
			}
			if in, ok := got["file-b"]; ok && in.DSN != "postgres://static" {
				t.Errorf("file-b: dsn_file not read: %+v", in)
			}
			if in, ok := got["file-a"]; ok && (in.Labels["region"] != "us" || !strings.HasSuffix(in.Source, "one.yaml:1")) {
				t.Errorf("file-a: %+v", in)
			}
			for _, in := range fl.Instances {
				found := false
				for _, s := range secrets {
					found = found || s == in.DSN
				}
				if !found {
					t.Errorf("%s: DSN not given to the secret sink", in.Name)
				}
			}
			// The order is the stable one, whatever the sources' order.
			sorted := append([]Instance(nil), fl.Instances...)
			SortInstances(sorted)
			if fmt.Sprint(names(sorted)) != fmt.Sprint(names(fl.Instances)) {
				t.Errorf("order %v, want %v", names(fl.Instances), names(sorted))
			}
		})
	}
}

func TestFleetResolveErrorsNameTheSource(t *testing.T) {
	t.Parallel()
	invDSN, invFile := inventoryDB(t, [4]string{"dup", "postgres://x", "", ""}, [4]string{"inv-a", "postgres://inv-a", "", ""})
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	for _, d := range []string{good, bad} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(good, "dup.yaml"), "name: dup\ndsn: postgres://y\n")
	writeFile(t, filepath.Join(bad, "a.yaml"), "- name: fine\n  dsn: postgres://f\n- name: nodsn\n  group: main\n")
	writeFile(t, filepath.Join(bad, "b.yaml"), "name: x\ndsn: postgres://x\nhost: typo\n")
	writeFile(t, filepath.Join(bad, "c.yaml"), "name: [unclosed\n")
	_ = invDSN
	tests := []struct {
		name string
		cfg  FleetConfig
		is   error
		want []string
	}{
		{"query", FleetConfig{Inventory: &InventoryConfig{DSNFile: invFile, Query: "SELECT name, dsn FROM no_such_table"}},
			ErrInventory, []string{"fleet.inventory: query", "no_such_table"}},
		{"columns", FleetConfig{Inventory: &InventoryConfig{DSNFile: invFile, Query: "SELECT name FROM targets"}},
			ErrInventory, []string{"must return the columns name and dsn"}},
		{"unknown column", FleetConfig{Inventory: &InventoryConfig{DSNFile: invFile, Query: "SELECT name, dsn, retired FROM targets"}},
			ErrInventory, []string{`column "retired"`}},
		{"empty dsn", FleetConfig{Inventory: &InventoryConfig{DSNFile: invFile, Query: "SELECT name, '' AS dsn FROM targets ORDER BY name"}},
			ErrInventory, []string{"row 1 dup: dsn is empty", "row 2 inv-a: dsn is empty"}},
		{"read only", FleetConfig{Inventory: &InventoryConfig{DSNFile: invFile, Query: "DELETE FROM targets RETURNING name, dsn"}},
			ErrInventory, []string{"read-only"}},
		{"inventory dsn", FleetConfig{Inventory: &InventoryConfig{DSNEnv: "SCHEMACANARY_TEST_NO_SUCH_ENV", Query: "SELECT name, dsn FROM targets"}},
			ErrDSN, []string{"SCHEMACANARY_TEST_NO_SUCH_ENV"}},
		{"bad files", FleetConfig{Files: filepath.Join(bad, "*.yaml")},
			nil, []string{"a.yaml:3: nodsn: exactly one of dsn", `b.yaml:3: unknown field "host"`, "c.yaml: line 1"}},
		{"duplicate", FleetConfig{Inventory: &InventoryConfig{DSNFile: invFile, Query: inventoryQuery}, Files: filepath.Join(good, "*.yaml")},
			ErrDuplicate, []string{`"dup": fleet.inventory row 1 and ` + filepath.Join(good, "dup.yaml") + ":1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Waves = []WaveConfig{{Select: "100%"}}
			fl, err := tt.cfg.ResolveContext(context.Background(), nil)
			if err == nil {
				t.Fatalf("want an error, got %v", names(fl.Instances))
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v is not %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), invDSN) {
				t.Errorf("error leaks the inventory DSN: %v", err)
			}
		})
	}
	if n := pgtest.QueryInt(t, invDSN, "SELECT count(*) FROM targets"); n != 2 {
		t.Errorf("the inventory query ran read-write: %d rows left", n)
	}
	var tfe *TargetFileError
	_, err := FleetConfig{Files: filepath.Join(bad, "b.yaml")}.Resolve()
	if !errors.As(err, &tfe) || tfe.Line != 3 || !strings.HasSuffix(tfe.Path, "b.yaml") {
		t.Errorf("want a *TargetFileError at b.yaml:3, got %v", err)
	}
}

// TestFleetHashPlacementNeverMovesAMember adds and removes targets with
// placement: hash: no member that stays ever changes wave, and the waves'
// shares are close to their percentages.
func TestFleetHashPlacementNeverMovesAMember(t *testing.T) {
	t.Parallel()
	cfg := FleetConfig{Placement: PlacementHash, Waves: []WaveConfig{{Select: "10%"}, {Select: "50%"}, {Select: "100%"}}}
	var ins []Instance
	prev := map[string]int{}
	var sizes []int
	for i := range 400 {
		ins = append(ins, Instance{Name: fmt.Sprintf("tenant-%03d", i), DSN: "x"})
		if i%7 == 3 {
			ins = append(ins[:i/3], ins[i/3+1:]...) // one leaves now and then
		}
		sorted := append([]Instance(nil), ins...)
		SortInstances(sorted)
		fl, err := NewFleet(sorted, cfg)
		if err != nil {
			t.Fatal(err)
		}
		waves, _, err := fl.Plan()
		if err != nil {
			if len(ins) < 20 {
				continue // a 10% canary wave may be empty in a tiny fleet
			}
			t.Fatal(err)
		}
		wave := map[string]int{}
		sizes = sizes[:0]
		for _, w := range waves {
			sizes = append(sizes, len(w.Instances))
			for _, in := range w.Instances {
				wave[in.Name] = w.Index
			}
		}
		for n, w := range wave {
			if pw, ok := prev[n]; ok && pw != w {
				t.Fatalf("after %d additions %s moved from wave %d to %d", i+1, n, pw, w)
			}
		}
		prev = wave
	}
	if n := len(ins); sizes[0] < n/20 || sizes[0] > n/5 || sizes[0]+sizes[1] < n*2/5 || sizes[0]+sizes[1] > n*3/5 {
		t.Errorf("wave sizes %v of %d: far from 10%%/50%%", sizes, n)
	}
	t.Logf("final waves %v of %d instances", sizes, len(ins))
}

// TestFleetStableOrderWhenATargetIsAdded adds targets one by one to an
// inventory and checks that no existing member is reordered and that, with
// percentage waves, only the members at a wave's edge can change wave,
// each by one wave at most.
func TestFleetStableOrderWhenATargetIsAdded(t *testing.T) {
	t.Parallel()
	invDSN, invFile := inventoryDB(t)
	cfg := FleetConfig{Inventory: &InventoryConfig{DSNFile: invFile, Query: inventoryQuery},
		Waves: []WaveConfig{{Select: "10%"}, {Select: "50%"}, {Select: "100%"}}}
	r, err := NewResolver(cfg, WithResolverLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	var prevOrder []string
	var prevWave map[string]int
	moved, kept := 0, 0
	for i := range 40 {
		insertTarget(t, invDSN, [4]string{fmt.Sprintf("tenant-%03d", i), "postgres://t", "", ""})
		fl, err := r.Resolve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		waves, _, err := fl.Plan()
		if err != nil {
			t.Fatal(err)
		}
		wave := map[string]int{}
		for _, w := range waves {
			for _, in := range w.Instances {
				wave[in.Name] = w.Index
			}
		}
		// The existing members keep their relative order.
		var order []string
		for _, n := range names(fl.Instances) {
			if n != fmt.Sprintf("tenant-%03d", i) {
				order = append(order, n)
			}
		}
		if fmt.Sprint(order) != fmt.Sprint(prevOrder) {
			t.Fatalf("adding tenant-%03d reordered the fleet: %v, was %v", i, order, prevOrder)
		}
		for n, w := range prevWave {
			d := wave[n] - w
			switch {
			case d == 0:
				kept++
			case d == 1 || d == -1:
				moved++
			default:
				t.Errorf("adding tenant-%03d moved %s from wave %d to %d", i, n, w, wave[n])
			}
		}
		prevOrder, prevWave = names(fl.Instances), wave
	}
	// Only edge members move: a small share of all the observations.
	if moved*10 > kept {
		t.Errorf("%d moves for %d kept placements: the order is not stable", moved, kept)
	}
	t.Logf("%d placements kept, %d members at a wave edge moved by one wave", kept, moved)
}

func TestResolverKeepsThePreviousFleetAndReportsChanges(t *testing.T) {
	t.Parallel()
	invDSN, invFile := inventoryDB(t,
		[4]string{"a", "postgres://a", "canary", ""}, [4]string{"b", "postgres://b", "", ""}, [4]string{"c", "postgres://c", "", ""})
	var mu sync.Mutex
	var changes []FleetChange
	secrets := map[string]int{}
	r, err := NewResolver(FleetConfig{Inventory: &InventoryConfig{DSNFile: invFile, Query: inventoryQuery},
		Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}},
		WithResolverLogger(quiet), WithFleetObserver(func(c FleetChange) { mu.Lock(); changes = append(changes, c); mu.Unlock() }),
		WithSecretSink(func(s string) { mu.Lock(); secrets[s]++; mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := r.Resolve(ctx)
	if err != nil || len(first.Instances) != 3 {
		t.Fatalf("first resolution: %v", err)
	}
	// One target disappears, one appears.
	pgtest.Exec(t, invDSN, "UPDATE targets SET retired = true WHERE name = 'b'")
	insertTarget(t, invDSN, [4]string{"d", "postgres://d", "", ""})
	second, err := r.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(sortedStrings(names(second.Instances))); got != "[a c d]" {
		t.Fatalf("second resolution %s", got)
	}
	// A resolution that fails changes nothing.
	pgtest.Exec(t, invDSN, "ALTER TABLE targets RENAME TO targets_gone")
	third, err := r.Resolve(ctx)
	if err != nil || third != second {
		t.Fatalf("failed resolution: want the previous fleet and no error, got %v %v", third, err)
	}
	if !errors.Is(r.LastError(), ErrInventory) {
		t.Errorf("LastError %v", r.LastError())
	}
	pgtest.Exec(t, invDSN, "ALTER TABLE targets_gone RENAME TO targets")
	if _, err := r.Resolve(ctx); err != nil || r.LastError() != nil {
		t.Fatalf("recovered resolution: %v %v", err, r.LastError())
	}
	mu.Lock()
	defer mu.Unlock()
	// Every DSN reached the sink once, however often it was read (a
	// redactor must not grow with every pass).
	for _, s := range []string{invDSN, "postgres://a", "postgres://b", "postgres://c", "postgres://d"} {
		if secrets[s] != 1 {
			t.Errorf("secret sink saw %q %d time(s), want 1", s, secrets[s])
		}
	}
	if len(changes) != 2 || fmt.Sprint(changes[0].Added, changes[0].Removed) != "[d] [b]" || changes[1].Err == nil || changes[1].Size != 3 {
		t.Fatalf("observed %+v", changes)
	}
	// The first resolution has nothing to keep.
	r2, _ := NewResolver(FleetConfig{Inventory: &InventoryConfig{DSNFile: invFile, Query: "SELECT nope"}})
	if _, err := r2.Resolve(ctx); !errors.Is(err, ErrNoFleet) {
		t.Errorf("first failed resolution: %v", err)
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// TestRolloutOverInventoryFleet runs a real rollout over a fleet defined by
// an inventory database, resolved through a Resolver as the daemon does.
func TestRolloutOverInventoryFleet(t *testing.T) {
	t.Parallel()
	const rows = 5000
	dsns := []string{shopDB(t, rows), shopDB(t, rows), shopDB(t, rows)}
	_, invFile := inventoryDB(t,
		[4]string{"inv-canary", dsns[0], "canary", ""},
		[4]string{"inv-m1", dsns[1], "", ""},
		[4]string{"inv-m2", dsns[2], "", ""})
	r, err := NewResolver(FleetConfig{Inventory: &InventoryConfig{DSNFile: invFile, Query: inventoryQuery},
		Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := r.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []Event
	c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "by_v", SQL: "SELECT id FROM items WHERE v = 42", Rate: 20})
	ch := testChange(905, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;", []string{"public.items"}, "AccessExclusiveLock")
	res, err := c.Run(context.Background(), fleet, ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusPromoted {
		t.Fatalf("%s: %s", res.Status, res.Reason)
	}
	for _, d := range dsns {
		if pgtest.QueryInt(t, d, "SELECT count(*) FROM goose_db_version WHERE version_id = 905") != 1 {
			t.Errorf("an inventory target lacks version 905")
		}
	}
	for _, ir := range res.Instances {
		if ir.Name == "inv-canary" && ir.Wave != 0 {
			t.Errorf("the inventory's canary group was not the canary wave: %+v", ir)
		}
	}
}

// TestMissedNamesTargetsInWavesAlreadyApplied resumes a rollout, in
// thought, after a target joined the fleet in a wave already applied: the
// target is named, the instances that hold the change and those whose
// wave is still to come are not.
func TestMissedNamesTargetsInWavesAlreadyApplied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := map[string]string{}
	for _, n := range []string{"c1", "m1", "late-canary", "late-main"} {
		dsn[n] = shopDB(t, 10)
	}
	waves := FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}}
	before, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: dsn["c1"]}, {Name: "m1", DSN: dsn["m1"]}}, waves)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []Event
	c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "by_v", SQL: "SELECT 1", Rate: 1})
	ch := testChange(906, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;", []string{"public.items"}, "AccessExclusiveLock")
	if _, err := c.Applier().Apply(ctx, before.Instances[0], ch); err != nil {
		t.Fatal(err)
	}
	after, err := NewFleet(append(before.Instances,
		Instance{Name: "late-canary", Group: "canary", DSN: dsn["late-canary"]}, Instance{Name: "late-main", DSN: dsn["late-main"]}), waves)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cp   *Checkpoint
		want string
	}{
		{nil, "[]"},
		{&Checkpoint{Version: 906, Phase: PhaseCanary}, "[]"},
		{&Checkpoint{Version: 906, Phase: PhaseBake}, "[late-canary]"},
		{&Checkpoint{Version: 906, Phase: PhasePromote, Wave: 1}, "[late-canary]"},
		{&Checkpoint{Version: 906, Phase: PhaseWatch}, "[late-canary late-main m1]"},
	}
	for _, tt := range tests {
		missed, err := c.Missed(ctx, after, tt.cp)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(sortedStrings(names(missed))); got != tt.want {
			t.Errorf("%+v: missed %s, want %s", tt.cp, got, tt.want)
		}
	}
}
