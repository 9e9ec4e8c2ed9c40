package rollout

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"
	"github.com/schemacanary/schemacanary/rollout/kpi"
	"gopkg.in/yaml.v3"
)

// ConfigError is one invalid configuration value; Key is the dotted YAML
// path ("canary.lock_timeout", "fleet.instances[2].dsn_env").
type ConfigError struct {
	Key string
	Msg string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Msg }

func cfgErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// FleetConfig is the `fleet` section: where the instances come from and the
// waves a change goes through. The instances are the union of three
// sources, resolved again at the start of every rollout run (see Resolver):
// the static Instances, the rows of an Inventory query and the target files
// matching Files. At least one source is required; names are unique across
// all of them.
//
//	fleet:
//	  instances:
//	    - {name: eu-1, dsn_env: EU1_DSN, group: canary}
//	    - {name: eu-2, dsn_file: /run/secrets/eu2, group: main}
//	  inventory: {dsn_env: INVENTORY_DSN, query: "SELECT name, dsn, grp FROM targets"}
//	  files: /etc/schemacanary/targets/*.yaml
//	  waves: [canary, 25%, 100%]
//	  concurrency: 10
type FleetConfig struct {
	// Instances are the databases of the fleet, each one goose version table.
	Instances []InstanceConfig `yaml:"instances"`
	// Inventory, when set, adds one instance per row of a SQL query against
	// an inventory database.
	Inventory *InventoryConfig `yaml:"inventory"`
	// Files, when set, is a glob of target files (YAML), each holding one
	// instance or a list of them.
	Files string `yaml:"files"`
	// Waves are the steps of a rollout, in order; default [canary, 25%, 100%].
	// The first wave is the canary wave: it is baked and judged against the
	// control. A wave is a group name (every instance of that group) or a
	// percentage: the share of the whole fleet that holds the change once the
	// wave is done (cumulative; at least one more instance per wave).
	Waves []WaveConfig `yaml:"waves"`
	// Placement is how percentage waves pick their instances from the
	// ordered fleet: "rank" (default) takes the next instances in order
	// until the wave's share of the current size is reached (exact shares;
	// adding or removing a target can move the instance at a wave's edge);
	// "hash" puts an instance in the first percentage wave above its point
	// in [0, 100), a hash of its name (shares are approximate, a wave may
	// be empty, but no instance ever changes wave when others come or go).
	Placement string `yaml:"placement"`
	// Concurrency is the default number of instances a wave changes at
	// once; default 10.
	Concurrency int `yaml:"concurrency"`
	// Control is the group compared with the canary; default: instances
	// outside the canary wave, as many as ControlSize.
	Control string `yaml:"control"`
	// ControlSize caps the number of control instances sampled; default:
	// the canary wave's size (at least 1).
	ControlSize int `yaml:"control_size"`
}

// InstanceConfig is one database of the fleet. Its DSN is given by
// reference only: the name of an environment variable or a file.
type InstanceConfig struct {
	// Name identifies the instance in logs, events and the control store.
	Name string `yaml:"name"`
	// DSNEnv names the environment variable holding the libpq DSN.
	DSNEnv string `yaml:"dsn_env"`
	// DSNFile is a file holding the DSN (trailing whitespace trimmed).
	DSNFile string `yaml:"dsn_file"`
	// Group places the instance in a wave or the control; default "main".
	Group string `yaml:"group"`
	// Labels are free values for KPI query templates (e.g. Prometheus
	// label values); "$instance" is always Name.
	Labels map[string]string `yaml:"labels"`
	// DataDir is the data directory of a local cluster; it enables the
	// /proc KPI source for that instance.
	DataDir string `yaml:"data_dir"`
	// Schema makes the instance a schema-per-tenant target: the tenant's
	// schema in the database the DSN names, with its own goose table, its
	// sessions' search_path set to it. Its migrations are written with
	// unqualified names. "" (default): the database is the target.
	Schema string `yaml:"schema"`
}

// InventoryConfig is an inventory database queried for targets. Its DSN is
// given by reference, like an instance's.
type InventoryConfig struct {
	// DSNEnv names the environment variable holding the inventory's DSN.
	DSNEnv string `yaml:"dsn_env"`
	// DSNFile is a file holding the inventory's DSN.
	DSNFile string `yaml:"dsn_file"`
	// Query returns one row per target. Columns are matched by name:
	// name and dsn (text, required, non-empty); group or grp (text, NULL or
	// empty: "main"); labels (json, jsonb or text holding a JSON object of
	// strings); data_dir (text); schema (text, NULL or empty: the
	// database is the target). Any other column is an error.
	Query string `yaml:"query"`
	// Timeout bounds the connection and the query; default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// WaveConfig is one wave. In YAML it is either a scalar ("canary", "25%")
// or a mapping {select: "25%", concurrency: 20}.
type WaveConfig struct {
	// Select is a group name or a percentage of the fleet ("25%").
	Select string `yaml:"select"`
	// Concurrency overrides FleetConfig.Concurrency for this wave.
	Concurrency int `yaml:"concurrency"`
}

// UnmarshalYAML accepts a scalar or a strict mapping.
func (w *WaveConfig) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		w.Select = n.Value
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "select":
				w.Select = v.Value
			case "concurrency":
				c, err := strconv.Atoi(v.Value)
				if err != nil {
					return fmt.Errorf("line %d: wave concurrency %q: not an integer", v.Line, v.Value)
				}
				w.Concurrency = c
			default:
				return fmt.Errorf("line %d: field %s not found in type rollout.WaveConfig", k.Line, k.Value)
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: a wave is a group name, a percentage or {select, concurrency}", n.Line)
}

// percent returns the wave's percentage and true when Select is one.
func (w WaveConfig) percent() (float64, bool, error) {
	s := strings.TrimSpace(w.Select)
	if !strings.HasSuffix(s, "%") {
		return 0, false, nil
	}
	p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || p <= 0 || p > 100 {
		return 0, true, fmt.Errorf("%q: a percentage in (0, 100]", w.Select)
	}
	return p, true, nil
}

// Placements of percentage waves (FleetConfig.Placement).
const (
	PlacementRank = "rank"
	PlacementHash = "hash"
)

// DefaultGroup is the group of an instance without one.
const DefaultGroup = "main"

// SetDefaults fills unset fields with their defaults.
func (f *FleetConfig) SetDefaults() {
	if len(f.Waves) == 0 {
		f.Waves = []WaveConfig{{Select: "canary"}, {Select: "25%"}, {Select: "100%"}}
	}
	if f.Concurrency == 0 {
		f.Concurrency = 10
	}
	if f.Placement == "" {
		f.Placement = PlacementRank
	}
	if f.Inventory != nil && f.Inventory.Timeout == 0 {
		f.Inventory.Timeout = 10 * time.Second
	}
	for i := range f.Instances {
		if f.Instances[i].Group == "" {
			f.Instances[i].Group = DefaultGroup
		}
	}
}

// Validate reports every invalid value, each error naming its key.
func (f *FleetConfig) Validate() error {
	var errs []error
	dynamic := f.Inventory != nil || f.Files != ""
	if len(f.Instances) == 0 && !dynamic {
		errs = append(errs, cfgErr("fleet.instances", "at least one instance is required (or fleet.inventory, fleet.files)"))
	}
	if inv := f.Inventory; inv != nil {
		if (inv.DSNEnv == "") == (inv.DSNFile == "") {
			errs = append(errs, cfgErr("fleet.inventory", "exactly one of dsn_env or dsn_file is required"))
		}
		if strings.TrimSpace(inv.Query) == "" {
			errs = append(errs, cfgErr("fleet.inventory.query", "required"))
		}
		if inv.Timeout < 0 {
			errs = append(errs, cfgErr("fleet.inventory.timeout", "must be > 0, got %s", inv.Timeout))
		}
	}
	if f.Files != "" {
		if _, err := filepath.Match(f.Files, ""); err != nil {
			errs = append(errs, cfgErr("fleet.files", "bad glob %q: %v", f.Files, err))
		}
	}
	names := map[string]bool{}
	groups := map[string]bool{}
	for i, in := range f.Instances {
		key := fmt.Sprintf("fleet.instances[%d]", i)
		if in.Name == "" {
			errs = append(errs, cfgErr(key+".name", "required"))
		} else if names[in.Name] {
			errs = append(errs, cfgErr(key+".name", "duplicate instance %q", in.Name))
		}
		names[in.Name] = true
		if (in.DSNEnv == "") == (in.DSNFile == "") {
			errs = append(errs, cfgErr(key, "exactly one of dsn_env or dsn_file is required"))
		}
		if err := checkSchemaName(in.Schema); err != nil {
			errs = append(errs, cfgErr(key+".schema", "%v", err))
		}
		g := in.Group
		if g == "" {
			g = DefaultGroup
		}
		groups[g] = true
	}
	if f.Placement != "" && f.Placement != PlacementRank && f.Placement != PlacementHash {
		errs = append(errs, cfgErr("fleet.placement", "%q: want rank or hash", f.Placement))
	}
	if f.Concurrency < 0 {
		errs = append(errs, cfgErr("fleet.concurrency", "must be >= 1, got %d", f.Concurrency))
	}
	if f.ControlSize < 0 {
		errs = append(errs, cfgErr("fleet.control_size", "must be >= 0, got %d", f.ControlSize))
	}
	if f.Control != "" && !dynamic && !groups[f.Control] {
		errs = append(errs, cfgErr("fleet.control", "no instance is in group %q", f.Control))
	}
	last := 0.0
	for i, w := range f.Waves {
		key := fmt.Sprintf("fleet.waves[%d]", i)
		if w.Concurrency < 0 {
			errs = append(errs, cfgErr(key+".concurrency", "must be >= 1, got %d", w.Concurrency))
		}
		p, isPct, err := w.percent()
		switch {
		case err != nil:
			errs = append(errs, cfgErr(key, "%v", err))
		case isPct && p <= last:
			errs = append(errs, cfgErr(key, "%s: percentages must grow from wave to wave", w.Select))
		case isPct:
			last = p
		case w.Select == "":
			errs = append(errs, cfgErr(key, "empty wave"))
		case len(f.Instances) > 0 && !dynamic && !groups[w.Select]:
			errs = append(errs, cfgErr(key, "no instance is in group %q", w.Select))
		}
	}
	return errors.Join(errs...)
}

// CanaryConfig is the `canary` section: how a change is applied and baked.
type CanaryConfig struct {
	// Interval between KPI samples; default 5s.
	Interval time.Duration `yaml:"interval"`
	// Bake is how long the canary runs before the final verdict; default
	// 10m. A change's front matter `bake` overrides it.
	Bake time.Duration `yaml:"bake"`
	// Baseline is how long KPIs are sampled on the canary before the
	// change; default: 12 intervals.
	Baseline time.Duration `yaml:"baseline"`
	// MaxBake caps a bake extended for lack of data; default 3 × Bake.
	MaxBake time.Duration `yaml:"max_bake"`
	// LockTimeout is SET lock_timeout for every DDL attempt; default 100ms.
	LockTimeout time.Duration `yaml:"lock_timeout"`
	// StatementTimeout is SET statement_timeout for the DDL; default 30m,
	// 0 in YAML keeps the default (use a large value to lift it).
	StatementTimeout time.Duration `yaml:"statement_timeout"`
	// Retries is how many times an attempt that hit the lock_timeout
	// (SQLSTATE 55P03) is retried; default 30.
	Retries int `yaml:"retries"`
	// Backoff is the first retry delay, doubled each retry with ±50%
	// jitter; default 200ms.
	Backoff time.Duration `yaml:"backoff"`
	// MaxBackoff caps the retry delay; default 5s.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// LongTransaction is the age above which a transaction holding or
	// awaiting a conflicting lock makes the applier wait (without queueing)
	// before an attempt; default 1s.
	LongTransaction time.Duration `yaml:"long_transaction"`
	// MaxWait caps the total time spent waiting for long transactions
	// before giving up with ErrLockTimeout; default 10m.
	MaxWait time.Duration `yaml:"max_wait"`
	// OnInconclusive is what happens when a bake reaches MaxBake without
	// enough data to judge (an idle fleet: no traffic is no evidence of
	// harm): "hold" (default) keeps the change on the canary wave and ends
	// the run with StatusInconclusive, for a human to promote or roll back;
	// "promote" promotes it as if it had passed. A failing judgement still
	// rolls back either way.
	OnInconclusive string `yaml:"on_inconclusive"`
	// WaveBake is how long each wave after the canary bakes, judged against
	// the instances not yet migrated and against its own pre-change
	// baseline; default (0): the canary's bake, a change's front-matter
	// `bake` included.
	WaveBake time.Duration `yaml:"wave_bake"`
	// WaveSample is how many instances of a wave after the canary its
	// judgement samples (baseline, bake and the production watch), spread
	// evenly over the wave in the fleet's order; every instance of the
	// wave is applied and pre-flighted all the same. Default 20. KPIs of
	// 1,500 instances would cost 1,500 probe pools and their queries for
	// no better verdict: the judge needs enough samples, not every target.
	WaveSample int `yaml:"wave_sample"`
	// OnWaveFailure is what a wave after the canary that fails its
	// judgement does: "rollback_all" (default) rolls the change back on
	// every instance that holds it, the newest wave first; "rollback_wave"
	// rolls back that wave only and stops, the earlier waves keeping the
	// change, for a human; "pause" stops with every instance as it is, for
	// a human.
	OnWaveFailure string `yaml:"on_wave_failure"`
	// Watch is how long production is watched after the last wave: the
	// last wave's instances are judged against their pre-change baseline,
	// and a failing judgement acts as OnWaveFailure says. Default 0: off.
	// With no unmigrated reference left, nothing corrects for a swing of
	// load during the watch: under the scenario's noisy load it failed 3
	// of 20 safe changes, so it is opt-in until it has a drift reference.
	Watch time.Duration `yaml:"watch"`
	// ConsecutiveFails is how many judged intervals in a row must fail
	// before the canary is rolled back (a noise burst in one interval does
	// not roll back; hard guards always act at once); default 2.
	ConsecutiveFails int `yaml:"consecutive_fails"`
	// Judge tunes the statistics (alpha, tolerances, minimum samples,
	// hard guards); see JudgeConfig.
	Judge judge.JudgeConfig `yaml:"judge"`
	// KPIs selects the KPI sources sampled on canary and control (pgstat,
	// probes, proc, prometheus); see KPIConfig.
	KPIs kpi.KPIConfig `yaml:"kpis"`
}

// SetDefaults fills unset fields with their defaults.
func (c *CanaryConfig) SetDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Interval, 5*time.Second)
	def(&c.Bake, 10*time.Minute)
	def(&c.Baseline, 12*c.Interval)
	def(&c.MaxBake, 3*c.Bake)
	def(&c.LockTimeout, 100*time.Millisecond)
	def(&c.StatementTimeout, 30*time.Minute)
	def(&c.Backoff, 200*time.Millisecond)
	def(&c.MaxBackoff, 5*time.Second)
	def(&c.LongTransaction, time.Second)
	def(&c.MaxWait, 10*time.Minute)
	if c.Retries == 0 {
		c.Retries = 30
	}
	if c.ConsecutiveFails == 0 {
		c.ConsecutiveFails = 2
	}
	if c.OnInconclusive == "" {
		c.OnInconclusive = InconclusiveHold
	}
	if c.OnWaveFailure == "" {
		c.OnWaveFailure = WaveFailureRollbackAll
	}
	if c.WaveSample == 0 {
		c.WaveSample = DefaultWaveSample
	}
}

// DefaultWaveSample is CanaryConfig.WaveSample's default.
const DefaultWaveSample = 20

// Policies of CanaryConfig.OnWaveFailure.
const (
	// WaveFailureRollbackAll rolls the change back everywhere.
	WaveFailureRollbackAll = "rollback_all"
	// WaveFailureRollbackWave rolls back the failing wave and stops.
	WaveFailureRollbackWave = "rollback_wave"
	// WaveFailurePause stops with every instance as it is.
	WaveFailurePause = "pause"
)

// Policies of CanaryConfig.OnInconclusive.
const (
	// InconclusiveHold keeps an inconclusive change on the canary wave for a
	// human (StatusInconclusive).
	InconclusiveHold = "hold"
	// InconclusivePromote promotes an inconclusive change.
	InconclusivePromote = "promote"
)

// Validate reports every invalid value, each error naming its key.
func (c *CanaryConfig) Validate() error {
	var errs []error
	pos := func(key string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, cfgErr("canary."+key, "must be > 0, got %s", d))
		}
	}
	pos("interval", c.Interval)
	pos("bake", c.Bake)
	pos("baseline", c.Baseline)
	pos("lock_timeout", c.LockTimeout)
	pos("statement_timeout", c.StatementTimeout)
	pos("backoff", c.Backoff)
	pos("max_backoff", c.MaxBackoff)
	pos("long_transaction", c.LongTransaction)
	pos("max_wait", c.MaxWait)
	if c.Interval > 0 && c.Bake > 0 && c.Bake < c.Interval {
		errs = append(errs, cfgErr("canary.bake", "%s is shorter than canary.interval %s", c.Bake, c.Interval))
	}
	if c.MaxBake < c.Bake {
		errs = append(errs, cfgErr("canary.max_bake", "%s is shorter than canary.bake %s", c.MaxBake, c.Bake))
	}
	if c.LockTimeout > 10*time.Second {
		errs = append(errs, cfgErr("canary.lock_timeout", "%s blocks all traffic on the table for that long per attempt; keep it <= 10s", c.LockTimeout))
	}
	switch c.OnInconclusive {
	case InconclusiveHold, InconclusivePromote, "":
	default:
		errs = append(errs, cfgErr("canary.on_inconclusive", "%q: want hold or promote", c.OnInconclusive))
	}
	switch c.OnWaveFailure {
	case WaveFailureRollbackAll, WaveFailureRollbackWave, WaveFailurePause, "":
	default:
		errs = append(errs, cfgErr("canary.on_wave_failure", "%q: want rollback_all, rollback_wave or pause", c.OnWaveFailure))
	}
	if c.WaveSample < 0 {
		errs = append(errs, cfgErr("canary.wave_sample", "%d: want at least 1 (default %d)", c.WaveSample, DefaultWaveSample))
	}
	if c.WaveBake < 0 || c.WaveBake > 0 && c.WaveBake < c.Interval {
		errs = append(errs, cfgErr("canary.wave_bake", "%s: want 0 (the canary's bake) or at least canary.interval %s", c.WaveBake, c.Interval))
	}
	if w := c.Watch; w < 0 || w > 0 && w < c.Interval {
		errs = append(errs, cfgErr("canary.watch", "%s: want 0 (no watch) or at least canary.interval %s", w, c.Interval))
	}
	if c.ConsecutiveFails < 0 {
		errs = append(errs, cfgErr("canary.consecutive_fails", "must be >= 1, got %d", c.ConsecutiveFails))
	}
	if c.Retries < 0 {
		errs = append(errs, cfgErr("canary.retries", "must be >= 0, got %d", c.Retries))
	}
	if c.MaxBackoff < c.Backoff {
		errs = append(errs, cfgErr("canary.max_backoff", "%s is below canary.backoff %s", c.MaxBackoff, c.Backoff))
	}
	if _, err := judge.NewJudge(c.Judge); err != nil {
		errs = append(errs, cfgErr("canary.judge", "%v", err))
	}
	if err := c.KPIs.Validate(); err != nil {
		errs = append(errs, cfgErr("canary.kpis", "%v", err))
	}
	return errors.Join(errs...)
}

// Fence modes of RollbackConfig.Fence.
const (
	// FenceTables locks the touched tables IN SHARE ROW EXCLUSIVE MODE
	// inside the rollback transaction (EXCLUSIVE for whole-table drops).
	FenceTables = "tables"
	// FenceDatabase sets default_transaction_read_only on the database and
	// terminates the writers' sessions before the rollback transaction.
	FenceDatabase = "database"
)

// Restart modes of RollbackConfig.Restart.
const (
	// RestartSessions terminates the app roles' idle sessions so pooled
	// connections reconnect without stale cached plans.
	RestartSessions = "sessions"
	// RestartCommand runs RollbackConfig.Command.
	RestartCommand = "command"
	// RestartNone does nothing after the down.
	RestartNone = "none"
)

// RollbackConfig is the `rollback` section.
type RollbackConfig struct {
	// Fence is "tables" (default) or "database".
	Fence string `yaml:"fence"`
	// Restart is "sessions", "command" or "none"; default "sessions" when
	// AppRoles are set, else "none".
	Restart string `yaml:"restart"`
	// AppRoles are the roles whose sessions a fence: database or restart:
	// sessions terminates; required by both.
	AppRoles []string `yaml:"app_roles"`
	// Command is run with /bin/sh -c for restart: command, with
	// SCHEMACANARY_INSTANCE and SCHEMACANARY_VERSION in its environment.
	Command string `yaml:"command"`
	// CommandTimeout bounds Command; default 1m.
	CommandTimeout time.Duration `yaml:"command_timeout"`
	// RollbackBelow rolls back when the live re-prediction over the
	// observed KPIs falls below it because of what the bake showed (see
	// Reprediction.Predicts); 0 disables it. Default (nil) 0.2.
	RollbackBelow *float64 `yaml:"rollback_below"`
	// LockTimeout is the lock_timeout of the rollback transaction; default 1s.
	LockTimeout time.Duration `yaml:"lock_timeout"`
	// Retries of the rollback transaction after a lock timeout; default 60.
	Retries int `yaml:"retries"`
	// RevertWindow is how long after a change is done an operator can
	// still revert it everywhere (`schemacanary revert VERSION`); default
	// DefaultRevertWindow.
	RevertWindow time.Duration `yaml:"revert_window"`
	// DrainTimeout is how long fence: database waits for running write
	// transactions before terminating them; default 5s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// DefaultRevertWindow is RollbackConfig.RevertWindow when unset.
const DefaultRevertWindow = 30 * time.Minute

// SetDefaults fills unset fields with their defaults.
func (r *RollbackConfig) SetDefaults() {
	if r.Fence == "" {
		r.Fence = FenceTables
	}
	if r.Restart == "" {
		r.Restart = RestartNone
		if len(r.AppRoles) > 0 {
			r.Restart = RestartSessions
		}
	}
	if r.CommandTimeout == 0 {
		r.CommandTimeout = time.Minute
	}
	if r.RevertWindow == 0 {
		r.RevertWindow = DefaultRevertWindow
	}
	if r.LockTimeout == 0 {
		r.LockTimeout = time.Second
	}
	if r.Retries == 0 {
		r.Retries = 60
	}
	if r.DrainTimeout == 0 {
		r.DrainTimeout = 5 * time.Second
	}
	if r.RollbackBelow == nil {
		d := DefaultRollbackBelow
		r.RollbackBelow = &d
	}
}

// DefaultRollbackBelow is the default rollback.rollback_below.
const DefaultRollbackBelow = 0.2

// RollbackThreshold is rollback_below with its default (0: off).
func (r RollbackConfig) RollbackThreshold() float64 {
	if r.RollbackBelow == nil {
		return DefaultRollbackBelow
	}
	return *r.RollbackBelow
}

// Validate reports every invalid value, each error naming its key.
func (r *RollbackConfig) Validate() error {
	var errs []error
	switch r.Fence {
	case FenceTables, FenceDatabase:
	default:
		errs = append(errs, cfgErr("rollback.fence", "%q: want tables or database", r.Fence))
	}
	switch r.Restart {
	case RestartSessions, RestartNone:
	case RestartCommand:
		if strings.TrimSpace(r.Command) == "" {
			errs = append(errs, cfgErr("rollback.command", "required by restart: command"))
		}
	default:
		errs = append(errs, cfgErr("rollback.restart", "%q: want sessions, command or none", r.Restart))
	}
	if (r.Restart == RestartSessions || r.Fence == FenceDatabase) && len(r.AppRoles) == 0 {
		errs = append(errs, cfgErr("rollback.app_roles", "required by restart: sessions and fence: database (the roles whose sessions are terminated)"))
	}
	for i, role := range r.AppRoles {
		if role == "" {
			errs = append(errs, cfgErr(fmt.Sprintf("rollback.app_roles[%d]", i), "empty role"))
		}
	}
	if rb := r.RollbackThreshold(); rb < 0 || rb >= 1 {
		errs = append(errs, cfgErr("rollback.rollback_below", "%v: want 0 (off) or a probability in (0, 1)", rb))
	}
	if r.LockTimeout <= 0 {
		errs = append(errs, cfgErr("rollback.lock_timeout", "must be > 0, got %s", r.LockTimeout))
	}
	if r.RevertWindow < 0 {
		errs = append(errs, cfgErr("rollback.revert_window", "must be > 0, got %s", r.RevertWindow))
	}
	if r.Retries < 0 {
		errs = append(errs, cfgErr("rollback.retries", "must be >= 0, got %d", r.Retries))
	}
	if r.CommandTimeout <= 0 {
		errs = append(errs, cfgErr("rollback.command_timeout", "must be > 0, got %s", r.CommandTimeout))
	}
	if r.DrainTimeout <= 0 {
		errs = append(errs, cfgErr("rollback.drain_timeout", "must be > 0, got %s", r.DrainTimeout))
	}
	return errors.Join(errs...)
}
