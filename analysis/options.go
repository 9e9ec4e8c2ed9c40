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
	severity       map[string]Severity
	enabledOptIn   map[string]bool
	defaultSchema  string
	ignoreSuppress bool
}

func defaultConfig() config {
	return config{pgVersion: 15, defaultSchema: defaultSchemaName}
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

// WithRuleSettings sets rules' severities by id: "error", "warning" or
// "info" overrides the rule's default, "off" disables it. Unknown ids and
// values are errors, and so is turning off a rule of ClassFails (its
// severity may change; it still fails the gate).
func WithRuleSettings(settings map[string]string) Option {
	return func(cfg *config) error {
		for id, v := range settings {
			r, ok := ruleByID(id)
			if !ok {
				return fmt.Errorf("rule settings: unknown rule %q (see docs/rules)", id)
			}
			switch Severity(v) {
			case SeverityError, SeverityWarning, SeverityInfo:
				if cfg.severity == nil {
					cfg.severity = map[string]Severity{}
				}
				cfg.severity[id] = Severity(v)
			case "off":
				if r.Class == ClassFails {
					return fmt.Errorf("rule settings: %q is a certain failure (class %s) and cannot be turned off", id, r.Class)
				}
				if cfg.disabled == nil {
					cfg.disabled = map[string]bool{}
				}
				cfg.disabled[id] = true
			default:
				return fmt.Errorf("rule settings: %s: %q: want error, warning, info or off", id, v)
			}
		}
		return nil
	}
}
