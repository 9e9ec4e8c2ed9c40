package analysis

import (
	"errors"
	"fmt"
)

// Option configures Analyze. Options validate themselves; Analyze returns
// the first option error wrapped in ErrInvalidOption.
type Option func(*config) error

// ErrInvalidOption is returned by Analyze when an option is invalid.
var ErrInvalidOption = errors.New("analysis: invalid option")

type config struct {
	catalog        Catalog
	pgVersion      int
	assumeInTx     bool
	disabled       map[string]bool
	enabledOptIn   map[string]bool
	defaultSchema  string
	ignoreSuppress bool
}

func defaultConfig() config {
	return config{pgVersion: 15, defaultSchema: "public"}
}

// WithCatalog gives Analyze live context: sizes and traffic of the touched
// tables, used in messages, EstLockSeconds and the context features.
// A nil Catalog is an error.
func WithCatalog(c Catalog) Option {
	return func(cfg *config) error {
		if c == nil {
			return errors.New("WithCatalog: nil catalog")
		}
		cfg.catalog = c
		return nil
	}
}

// WithPostgresVersion sets the major version of the target server (default
// 15); some hazards differ by version (e.g. ADD COLUMN with a constant default
// rewrites before 11). Accepted range 9..20.
func WithPostgresVersion(major int) Option {
	return func(cfg *config) error {
		if major < 9 || major > 20 {
			return fmt.Errorf("WithPostgresVersion(%d): want 9..20", major)
		}
		cfg.pgVersion = major
		return nil
	}
}

// WithAssumeInTransaction treats a plain SQL file as if it ran inside one
// transaction (goose files are transactional unless NO TRANSACTION anyway).
func WithAssumeInTransaction(on bool) Option {
	return func(cfg *config) error { cfg.assumeInTx = on; return nil }
}

// WithDisabledRules turns rules off by id. Unknown ids are an error, and
// so are rules of ClassFails: a certain failure cannot be switched off.
func WithDisabledRules(ids ...string) Option {
	return func(cfg *config) error {
		for _, id := range ids {
			r, ok := ruleByID(id)
			if !ok {
				return fmt.Errorf("WithDisabledRules: unknown rule %q", id)
			}
			if r.Class == ClassFails {
				return fmt.Errorf("WithDisabledRules: %q is a certain failure (class %s) and cannot be disabled", id, r.Class)
			}
			if cfg.disabled == nil {
				cfg.disabled = map[string]bool{}
			}
			cfg.disabled[id] = true
		}
		return nil
	}
}

// WithEnabledRules turns on opt-in rules (those whose Rule.OptIn is true).
// Unknown ids are an error.
func WithEnabledRules(ids ...string) Option {
	return func(cfg *config) error {
		for _, id := range ids {
			if _, ok := ruleByID(id); !ok {
				return fmt.Errorf("WithEnabledRules: unknown rule %q", id)
			}
			if cfg.enabledOptIn == nil {
				cfg.enabledOptIn = map[string]bool{}
			}
			cfg.enabledOptIn[id] = true
		}
		return nil
	}
}
