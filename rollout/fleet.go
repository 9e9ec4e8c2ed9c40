package rollout

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"

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
}

// String returns the instance name.
func (i Instance) String() string { return i.Name }

// LogValue keeps the DSN out of logs.
func (i Instance) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", i.Name), slog.String("group", i.Group))
}

// Target is the instance as a KPI source sees it.
func (i Instance) Target() kpi.Target {
	return kpi.Target{Instance: i.Name, DSN: i.DSN, DataDir: i.DataDir, Labels: i.Labels}
}

// ErrDSN is wrapped when an instance's DSN reference cannot be resolved.
var ErrDSN = errors.New("cannot resolve DSN")

// Resolve reads every instance's DSN from its environment variable or file
// and returns the fleet. The error names the instance and the reference,
// never the secret.
func (f FleetConfig) Resolve() (*Fleet, error) {
	f.SetDefaults()
	if err := f.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	ins := make([]Instance, 0, len(f.Instances))
	for i, c := range f.Instances {
		var dsn string
		switch {
		case c.DSNEnv != "":
			dsn = os.Getenv(c.DSNEnv)
			if dsn == "" {
				errs = append(errs, fmt.Errorf("fleet.instances[%d] %s: %w: environment variable %s is empty", i, c.Name, ErrDSN, c.DSNEnv))
			}
		default:
			b, err := os.ReadFile(c.DSNFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("fleet.instances[%d] %s: %w: %w", i, c.Name, ErrDSN, err))
			}
			dsn = strings.TrimSpace(string(b))
		}
		ins = append(ins, Instance{Name: c.Name, Group: c.Group, DSN: dsn, Labels: c.Labels, DataDir: c.DataDir})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return NewFleet(ins, f)
}

// Fleet is the resolved fleet: instances plus the wave layout.
type Fleet struct {
	Instances []Instance
	cfg       FleetConfig
}

// NewFleet builds a fleet from resolved instances and the wave layout of
// cfg (cfg.Instances is ignored). Tests and the demo use it directly.
func NewFleet(instances []Instance, cfg FleetConfig) (*Fleet, error) {
	cfg.Instances = nil
	for _, in := range instances {
		cfg.Instances = append(cfg.Instances, InstanceConfig{Name: in.Name, Group: in.Group, DSNEnv: "-"})
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
		if isPct {
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
