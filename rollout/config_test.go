package rollout

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigDefaultsValidate(t *testing.T) {
	t.Parallel()
	src := `
fleet:
  instances:
    - {name: a, dsn_env: A_DSN, group: canary}
    - {name: b, dsn_file: /run/b}
  waves: [canary, {select: 50%, concurrency: 2}, 100%]
canary:
  interval: 200ms
  bake: 2s
rollback:
  app_roles: [app]
`
	var cfg struct {
		Fleet    FleetConfig    `yaml:"fleet"`
		Canary   CanaryConfig   `yaml:"canary"`
		Rollback RollbackConfig `yaml:"rollback"`
	}
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Fleet.SetDefaults()
	cfg.Canary.SetDefaults()
	cfg.Rollback.SetDefaults()
	for _, err := range []error{cfg.Fleet.Validate(), cfg.Canary.Validate(), cfg.Rollback.Validate()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if cfg.Canary.Interval != 200*time.Millisecond || cfg.Canary.LockTimeout != 100*time.Millisecond || cfg.Canary.MaxBake != 6*time.Second {
		t.Fatalf("canary defaults: %+v", cfg.Canary)
	}
	if cfg.Fleet.Waves[1].Concurrency != 2 || cfg.Fleet.Waves[1].Select != "50%" || cfg.Fleet.Instances[1].Group != DefaultGroup {
		t.Fatalf("fleet: %+v", cfg.Fleet)
	}
	if cfg.Rollback.Restart != RestartSessions || cfg.Rollback.Fence != FenceTables {
		t.Fatalf("rollback defaults: %+v", cfg.Rollback)
	}
}

func TestConfigValidateNamesKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		check   func() error
		wantKey string
	}{
		{"no dsn", func() error {
			f := FleetConfig{Instances: []InstanceConfig{{Name: "a"}}}
			f.SetDefaults()
			return f.Validate()
		}, "fleet.instances[0]"},
		{"both dsn", func() error {
			f := FleetConfig{Instances: []InstanceConfig{{Name: "a", DSNEnv: "X", DSNFile: "y"}}}
			f.SetDefaults()
			return f.Validate()
		}, "fleet.instances[0]"},
		{"duplicate name", func() error {
			f := FleetConfig{Instances: []InstanceConfig{{Name: "a", DSNEnv: "X"}, {Name: "a", DSNEnv: "Y"}}}
			f.SetDefaults()
			return f.Validate()
		}, "fleet.instances[1].name"},
		{"unknown wave group", func() error {
			f := FleetConfig{Instances: []InstanceConfig{{Name: "a", DSNEnv: "X"}}, Waves: []WaveConfig{{Select: "canary"}}}
			f.SetDefaults()
			return f.Validate()
		}, "fleet.waves[0]"},
		{"shrinking percent", func() error {
			f := FleetConfig{Instances: []InstanceConfig{{Name: "a", DSNEnv: "X"}}, Waves: []WaveConfig{{Select: "50%"}, {Select: "25%"}}}
			f.SetDefaults()
			return f.Validate()
		}, "fleet.waves[1]"},
		{"bad percent", func() error {
			f := FleetConfig{Instances: []InstanceConfig{{Name: "a", DSNEnv: "X"}}, Waves: []WaveConfig{{Select: "150%"}}}
			f.SetDefaults()
			return f.Validate()
		}, "fleet.waves[0]"},
		{"negative lock timeout", func() error {
			c := CanaryConfig{LockTimeout: -time.Second}
			c.SetDefaults()
			return c.Validate()
		}, "canary.lock_timeout"},
		{"huge lock timeout", func() error {
			c := CanaryConfig{LockTimeout: time.Minute}
			c.SetDefaults()
			return c.Validate()
		}, "canary.lock_timeout"},
		{"bake below interval", func() error {
			c := CanaryConfig{Interval: time.Minute, Bake: time.Second, MaxBake: time.Hour}
			c.SetDefaults()
			return c.Validate()
		}, "canary.bake"},
		{"unknown wave failure policy", func() error {
			c := CanaryConfig{OnWaveFailure: "retry"}
			c.SetDefaults()
			return c.Validate()
		}, "canary.on_wave_failure"},
		{"wave bake below interval", func() error {
			c := CanaryConfig{Interval: time.Minute, WaveBake: time.Second}
			c.SetDefaults()
			return c.Validate()
		}, "canary.wave_bake"},
		{"bad fence", func() error {
			r := RollbackConfig{Fence: "rows"}
			r.SetDefaults()
			return r.Validate()
		}, "rollback.fence"},
		{"command without command", func() error {
			r := RollbackConfig{Restart: RestartCommand}
			r.SetDefaults()
			return r.Validate()
		}, "rollback.command"},
		{"sessions without roles", func() error {
			r := RollbackConfig{Restart: RestartSessions}
			r.SetDefaults()
			return r.Validate()
		}, "rollback.app_roles"},
		{"rollback_below out of range", func() error {
			bad := 1.5
			r := RollbackConfig{RollbackBelow: &bad}
			r.SetDefaults()
			return r.Validate()
		}, "rollback.rollback_below"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.check()
			if err == nil || !strings.Contains(err.Error(), tt.wantKey+":") {
				t.Fatalf("error %v does not name %s", err, tt.wantKey)
			}
		})
	}
}

func TestWaveUnknownKeyRejected(t *testing.T) {
	t.Parallel()
	var f FleetConfig
	err := yaml.Unmarshal([]byte("waves: [{select: canary, parallel: 3}]"), &f)
	if err == nil || !strings.Contains(err.Error(), "parallel") {
		t.Fatalf("want unknown key error, got %v", err)
	}
}

func TestFleetResolveReadsReferencesNotSecretsInErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := filepath.Join(dir, "a.dsn")
	if err := os.WriteFile(f, []byte("postgres://u:secret@h/db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc := FleetConfig{Instances: []InstanceConfig{{Name: "a", DSNFile: f, Group: "canary"}, {Name: "b", DSNFile: filepath.Join(dir, "missing")}}}
	if _, err := fc.Resolve(); err == nil || !errors.Is(err, ErrDSN) || !strings.Contains(err.Error(), "fleet.instances[1] b") {
		t.Fatalf("want ErrDSN naming instance b, got %v", err)
	}
	fc.Instances = fc.Instances[:1]
	fc.Waves = []WaveConfig{{Select: "canary"}}
	fl, err := fc.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if fl.Instances[0].DSN != "postgres://u:secret@h/db" {
		t.Fatalf("dsn %q", fl.Instances[0].DSN)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "instance", fl.Instances[0])
	if strings.Contains(b.String(), "secret") {
		t.Fatalf("instance log value leaks the DSN: %s", b.String())
	}
}

func TestFleetResolveRejectsUnusableDSNs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ref := func(name, dsn string) string {
		f := filepath.Join(dir, name+".dsn")
		if err := os.WriteFile(f, []byte(dsn+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	fc := FleetConfig{Waves: []WaveConfig{{Select: "canary"}}, Instances: []InstanceConfig{
		{Name: "pooled", Group: "canary", DSNFile: ref("pooled", "postgres://u:secret@h/db?pool_max_conns=4&pool_min_conns=1&search_path=app")},
		{Name: "garbled", Group: "canary", DSNFile: ref("garbled", "host=h password=secret port")},
		{Name: "fine", Group: "canary", DSNFile: ref("fine", "host=h dbname=db password=secret search_path=app")},
	}}
	_, err := fc.Resolve()
	if err == nil || !errors.Is(err, ErrDSN) {
		t.Fatalf("want ErrDSN, got %v", err)
	}
	for _, want := range []string{
		"fleet.instances[0] pooled: cannot resolve DSN: pool_max_conns, pool_min_conns: pgxpool settings",
		"fleet.instances[1] garbled: cannot resolve DSN: the DSN does not parse",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "fine") {
		t.Errorf("error leaks a DSN or blames a usable one:\n%v", err)
	}
	fc.Instances = fc.Instances[2:]
	if _, err := fc.Resolve(); err != nil {
		t.Fatalf("a keyword/value DSN with a server setting is usable: %v", err)
	}
}

func TestPartialErrorListsInstances(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	err := error(&PartialError{Version: 42, Op: "rollout", Err: cause, Instances: []InstanceVersion{
		{Instance: "a", Applied: true}, {Instance: "b"}, {Instance: "c", Err: errors.New("unreachable")}}})
	want := "rollout of version 42 incomplete: applied on a; not applied on b; unknown on c (unreachable): boom"
	if err.Error() != want || !errors.Is(err, cause) {
		t.Fatalf("got %q", err)
	}
}
