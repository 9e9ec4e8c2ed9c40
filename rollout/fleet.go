package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/rollout/kpi"
)

// Instance is one database of the fleet with its DSN resolved. The DSN is
// a secret: Instance's LogValue and String leave it out.
type Instance struct {
	Name    string
	Group   string
	DSN     string
	Labels  map[string]string
	DataDir string
	// Schema, when set, makes the instance a schema-per-tenant target: the
	// tenant's schema in the database DSN names, with its own goose table
	// (see tenant.go). "" is a database-per-tenant target.
	Schema string
	// Source says where the instance was resolved from:
	// "fleet.instances[2]", "fleet.inventory row 3", "path/to/file.yaml:4".
	Source string
}

// String returns the instance name.
func (i Instance) String() string { return i.Name }

// LogValue keeps the DSN out of logs.
func (i Instance) LogValue() slog.Value {
	if i.Schema != "" {
		return slog.GroupValue(slog.String("name", i.Name), slog.String("group", i.Group), slog.String("schema", i.Schema))
	}
	return slog.GroupValue(slog.String("name", i.Name), slog.String("group", i.Group))
}

// Target is the instance as a KPI source sees it.
func (i Instance) Target() kpi.Target {
	return kpi.Target{Instance: i.Name, DSN: i.DSN, DataDir: i.DataDir, Labels: i.Labels, Schema: i.Schema}
}

// ErrDSN is wrapped when an instance's DSN reference cannot be resolved.
var ErrDSN = errors.New("cannot resolve DSN")

// ErrDuplicate is wrapped when two targets, from the same source or from
// two sources, have the same name.
var ErrDuplicate = errors.New("duplicate instance name")

// Resolve is ResolveContext with a background context and no secret sink.
func (f FleetConfig) Resolve() (*Fleet, error) { return f.ResolveContext(context.Background(), nil) }

// ResolveContext reads every source of the fleet (the static instances,
// the inventory query, the target files), resolves each DSN reference,
// checks that every DSN is one its connections can use (usableDSNs), and
// returns the fleet in its stable order (SortInstances). secrets, when not
// nil, is given every DSN read (the inventory's included) before anything
// could print it, so that a redactor can scrub it. Errors name the source
// (fleet.instances[i], the inventory row, the file and line) and the
// reference, never the secret; every source's errors are reported
// together, and no fleet is returned with them.
func (f FleetConfig) ResolveContext(ctx context.Context, secrets func(string)) (*Fleet, error) {
	f.SetDefaults()
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if secrets == nil {
		secrets = func(string) {}
	}
	var errs []error
	ins := make([]Instance, 0, len(f.Instances))
	for i, c := range f.Instances {
		src := fmt.Sprintf("fleet.instances[%d]", i)
		dsn, err := readRef(c.DSNEnv, c.DSNFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w: %w", src, c.Name, ErrDSN, err))
		}
		secrets(dsn)
		ins = append(ins, Instance{Name: c.Name, Group: c.Group, DSN: dsn, Labels: c.Labels, DataDir: c.DataDir, Schema: c.Schema, Source: src})
	}
	if f.Inventory != nil {
		more, err := f.Inventory.targets(ctx, secrets)
		errs = append(errs, err)
		ins = append(ins, more...)
	}
	if f.Files != "" {
		more, err := fileTargets(f.Files, secrets)
		errs = append(errs, err)
		ins = append(ins, more...)
	}
	errs = append(errs, usableDSNs(ins), duplicates(ins))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	SortInstances(ins)
	return NewFleet(ins, f)
}

// readRef reads a DSN from an environment variable or a file (trailing
// whitespace trimmed). The error names the reference, never the value.
func readRef(env, file string) (string, error) {
	if env != "" {
		dsn := os.Getenv(env)
		if dsn == "" {
			return "", fmt.Errorf("environment variable %s is empty", env)
		}
		return dsn, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// usableDSNs reports every instance whose DSN schemacanary's connections
// cannot use, before anything connects: one that does not parse as a libpq
// connection string, and one carrying pgxpool's own parameters
// (pool_max_conns, ...), which the applier's and goose's single
// connections would send to the server as settings, failing at the first
// connect of a rollout. Errors name the source and the parameter, never
// the DSN. An instance whose DSN could not be read is reported already.
func usableDSNs(ins []Instance) error {
	var errs []error
	for _, in := range ins {
		if in.DSN == "" {
			continue
		}
		cfg, err := pgx.ParseConfig(in.DSN)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w: the DSN does not parse as a libpq connection string (keyword=value pairs or a postgres:// URL)",
				in.Source, in.Name, ErrDSN))
			continue
		}
		var pool []string
		for k := range cfg.RuntimeParams {
			if strings.HasPrefix(k, "pool_") {
				pool = append(pool, k)
			}
		}
		if len(pool) > 0 {
			sort.Strings(pool)
			errs = append(errs, fmt.Errorf("%s %s: %w: %s: pgxpool settings, which schemacanary's connections do not take (it sizes its own pools); remove them from the DSN",
				in.Source, in.Name, ErrDSN, strings.Join(pool, ", ")))
		}
	}
	return errors.Join(errs...)
}

// duplicates reports every name held by more than one target, naming the
// sources of each.
func duplicates(ins []Instance) error {
	seen := map[string]string{}
	var errs []error
	for _, in := range ins {
		if prev, ok := seen[in.Name]; ok {
			errs = append(errs, fmt.Errorf("%w %q: %s and %s", ErrDuplicate, in.Name, prev, in.Source))
			continue
		}
		seen[in.Name] = in.Source
	}
	return errors.Join(errs...)
}

// SortInstances puts instances in the fleet's stable order: by a 64-bit
// hash of the name (nameHash), then by name. The order of two instances never
// depends on the others, so adding or removing a target leaves the
// relative order of the rest as it was, and names that share a prefix
// (a region, a tenant range) are spread across the waves instead of
// filling one.
func SortInstances(ins []Instance) {
	sort.SliceStable(ins, func(i, j int) bool {
		hi, hj := nameHash(ins[i].Name), nameHash(ins[j].Name)
		if hi != hj {
			return hi < hj
		}
		return ins[i].Name < ins[j].Name
	})
}

// hashPoint places a name in [0, 100) for PlacementHash: its hash's share
// of the 64-bit range.
func hashPoint(name string) float64 {
	return float64(nameHash(name)>>11) / (1 << 53) * 100
}

// nameHash is the first 8 bytes, big-endian, of the SHA-256 of the name:
// well spread even for names that differ in one character (FNV-1a's high
// bits are not), and easy to reproduce elsewhere.
func nameHash(name string) uint64 {
	sum := sha256.Sum256([]byte(name))
	return binary.BigEndian.Uint64(sum[:8])
}

// Fleet is the resolved fleet: instances plus the wave layout.
type Fleet struct {
	Instances []Instance
	cfg       FleetConfig
}

// NewFleet builds a fleet from resolved instances, in the order given, and
// the wave layout of cfg (cfg's sources are ignored). Tests and the demo
// use it directly; ResolveContext sorts the instances first.
func NewFleet(instances []Instance, cfg FleetConfig) (*Fleet, error) {
	cfg.Instances, cfg.Inventory, cfg.Files = nil, nil, ""
	for _, in := range instances {
		cfg.Instances = append(cfg.Instances, InstanceConfig{Name: in.Name, Group: in.Group, DSNEnv: "-", Schema: in.Schema})
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	out := make([]Instance, len(instances))
	for i, in := range instances {
		if in.Group == "" {
			in.Group = DefaultGroup
		}
		out[i] = in
	}
	cfg.Instances = nil
	return &Fleet{Instances: out, cfg: cfg}, nil
}

// Wave is one planned wave.
type Wave struct {
	// Index is 0 for the canary wave.
	Index int
	// Name is the wave's selector ("canary", "25%").
	Name string
	// Instances get the change in this wave.
	Instances []Instance
	// Concurrency bounds how many of them change at once.
	Concurrency int
}

// Plan lays the fleet out in waves and picks the control instances that
// the canary wave is compared with. Every instance lands in exactly one
// wave; an instance no wave selects is an error.
func (f *Fleet) Plan() (waves []Wave, control []Instance, err error) {
	n := len(f.Instances)
	assigned := make([]bool, n)
	done := 0
	for i, wc := range f.cfg.Waves {
		w := Wave{Index: i, Name: wc.Select, Concurrency: wc.Concurrency}
		if w.Concurrency == 0 {
			w.Concurrency = f.cfg.Concurrency
		}
		p, isPct, perr := wc.percent()
		if perr != nil {
			return nil, nil, perr
		}
		if isPct && f.cfg.Placement == PlacementHash {
			for j, in := range f.Instances {
				if !assigned[j] && hashPoint(in.Name) < p {
					assigned[j] = true
					w.Instances = append(w.Instances, in)
				}
			}
		} else if isPct {
			want := int(math.Ceil(p / 100 * float64(n)))
			take := max(want-done, 1)
			for j := 0; j < n && take > 0; j++ {
				if !assigned[j] {
					assigned[j] = true
					w.Instances = append(w.Instances, f.Instances[j])
					take--
				}
			}
		} else {
			for j, in := range f.Instances {
				if !assigned[j] && in.Group == wc.Select {
					assigned[j] = true
					w.Instances = append(w.Instances, in)
				}
			}
		}
		done += len(w.Instances)
		if len(w.Instances) == 0 && i == 0 {
			if isPct && f.cfg.Placement == PlacementHash {
				return nil, nil, fmt.Errorf("fleet.waves[0] %q: the canary wave selects no instance (placement: hash: no name hashes below %s of the range; use a canary group or a larger share)", wc.Select, wc.Select)
			}
			return nil, nil, fmt.Errorf("fleet.waves[0] %q: the canary wave selects no instance", wc.Select)
		}
		if len(w.Instances) > 0 {
			waves = append(waves, w)
		}
	}
	var left []string
	for j, a := range assigned {
		if !a {
			left = append(left, f.Instances[j].Name)
		}
	}
	if len(left) > 0 {
		return nil, nil, fmt.Errorf("fleet.waves: no wave selects %s (end the waves with 100%%)", strings.Join(left, ", "))
	}
	size := f.cfg.ControlSize
	if size == 0 {
		size = max(len(waves[0].Instances), 1)
	}
	inCanary := map[string]bool{}
	for _, in := range waves[0].Instances {
		inCanary[in.Name] = true
	}
	// Prefer instances of the last waves: they stay unchanged longest.
	for wi := len(waves) - 1; wi >= 1 && len(control) < size; wi-- {
		for _, in := range waves[wi].Instances {
			if len(control) >= size {
				break
			}
			if f.cfg.Control == "" || in.Group == f.cfg.Control {
				control = append(control, in)
			}
		}
	}
	return waves, control, nil
}
