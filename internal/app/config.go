package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/rollout"
)

// Config is the daemon's whole configuration, read from one YAML file by
// LoadConfig. Secrets appear only by reference (an environment variable or a
// file name) and are resolved when used.
type Config struct {
	// Repo is the Git repository of goose migrations.
	Repo RepoConfig `yaml:"repo"`
	// Control is the control store (PostgreSQL).
	Control ControlConfig `yaml:"control"`
	// Fleet is the set of databases changes go to (see package rollout).
	Fleet rollout.FleetConfig `yaml:"fleet"`
	// Canary tunes the canary waves and bake (see package rollout).
	Canary rollout.CanaryConfig `yaml:"canary"`
	// Rollback tunes the rollback (see package rollout).
	Rollback rollout.RollbackConfig `yaml:"rollback"`
	// Prediction tunes the decision taken on a prediction.
	Prediction PredictionConfig `yaml:"prediction"`
	// Schedules are cron specs for the poll and the retraining.
	Schedules SchedulesConfig `yaml:"schedules"`
	// HTTP is the metrics/health/API/webhook server.
	HTTP HTTPConfig `yaml:"http"`
	// Forge is where PR comments, approvals and revert PRs go.
	Forge ForgeConfig `yaml:"forge"`
	// Reconcile tunes the loop's reactions to failures.
	Reconcile ReconcileConfig `yaml:"reconcile"`
	// Alerts sends the pipeline's events to webhooks (see config_alerts.go).
	Alerts AlertsConfig `yaml:"alerts"`
}

// ReconcileConfig tunes the reconcile loop.
type ReconcileConfig struct {
	// OnInstanceDown is what happens when an instance is unreachable while
	// a change rolls out: "pause" (default) stops before the wave of a
	// target its pre-flight cannot reach, applies nothing of it, and goes
	// on once the target is back; "rollback" rolls the change back on every
	// reachable instance; "hold" leaves the fleet as it is, marks the
	// change failed and reports each instance's state.
	OnInstanceDown string `yaml:"on_instance_down"`
	// MaxAttempts is how many consecutive transient failures of a step
	// (outside a rollout) mark a change failed; default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// LeaderInterval is how often a replica tries the leader lock and the
	// leader pings its lock connection; default 2s.
	LeaderInterval Duration `yaml:"leader_interval"`
}

// RepoConfig names the Git repository.
type RepoConfig struct {
	// URL is the clone URL (https://, file://, or a local path). Required.
	URL string `yaml:"url"`
	// Branch is the watched branch; default "main".
	Branch string `yaml:"branch"`
	// Dir is the migrations folder inside the repository; default "migrations".
	Dir string `yaml:"dir"`
	// TokenEnv names the environment variable holding an HTTPS token for
	// cloning and, by default, for the GitHub API.
	TokenEnv string `yaml:"token_env"`
	// Poll is a shorthand for schedules.poll ("30s" = "@every 30s"); set at
	// most one of the two.
	Poll Duration `yaml:"poll"`
	// CloneDir is where the daemon keeps its clone; default a folder under the
	// user cache directory.
	CloneDir string `yaml:"clone_dir"`
	// MaxFileBytes is the size limit of a migration file; default 1048576
	// (1 MiB, gitsrc.DefaultMaxFileBytes). A larger file is rejected, like a
	// file that does not parse, naming its size and the limit.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
}

// ControlConfig locates the control store. Exactly one of DSNEnv and DSNFile.
type ControlConfig struct {
	// DSNEnv names the environment variable holding the control database DSN.
	DSNEnv string `yaml:"dsn_env"`
	// DSNFile names a file holding the DSN (e.g. a mounted Kubernetes secret).
	DSNFile string `yaml:"dsn_file"`
	// KPIRetention bounds how long KPI samples are kept; default 720h (30 days).
	KPIRetention Duration `yaml:"kpi_retention"`
	// KPIMaxRows bounds how many KPI samples are kept at most; default 1,000,000.
	KPIMaxRows int64 `yaml:"kpi_max_rows"`
}

// DSN returns the reference to the control DSN.
func (c ControlConfig) DSN() secret.Ref {
	return secret.Ref{Env: c.DSNEnv, File: c.DSNFile}
}

// PredictionConfig tunes the decision.
type PredictionConfig struct {
	// Threshold: a change whose confidence is at or above it proceeds
	// automatically; below it waits for an approval. Default 0.80.
	Threshold float64 `yaml:"threshold"`
	// Model is the path of a trained model file; empty means the model in the
	// control store, or else the embedded bootstrap model.
	Model string `yaml:"model"`
	// LiveCatalog assesses every change against the canary instance before
	// it is touched: sizes and traffic of the touched tables, the oldest
	// open transaction, the workload's use of what the change removes (a
	// few seconds per assessment while it samples rates); default true.
	LiveCatalog *bool `yaml:"live_catalog"`
	// DryRun runs the Up section on a schema-only scratch copy of the
	// canary (needs CREATEDB, pg_dump and psql on the daemon's host);
	// default true. A dry run that cannot run lowers the confidence.
	DryRun *bool `yaml:"dry_run"`
	// DataChecks checks the canary's rows for what will certainly fail
	// (duplicates for a new UNIQUE, NULLs for SET NOT NULL, ...); default
	// true.
	DataChecks *bool `yaml:"data_checks"`
	// CheckTimeout is the statement_timeout of each data check and the
	// bound of the dry run; default 30s.
	CheckTimeout Duration `yaml:"check_timeout"`
	// Rules sets lint rules' severities for the whole fleet: rule id →
	// error, warning, info or off (certain failures cannot be turned off).
	Rules map[string]string `yaml:"rules"`
	// MinHistory is how many finished changes the control store must hold
	// before a retrained model replaces the bootstrap model; default 30.
	MinHistory int `yaml:"min_history"`
	// Timeout bounds the analysis and prediction of one change (merged or
	// proposed); default 2m. Past it the step fails like a transient error
	// and is retried next poll (reconcile.max_attempts).
	Timeout Duration `yaml:"timeout"`
}

// SchedulesConfig holds cron specs (robfig/cron syntax, with descriptors
// such as "@every 30s" and "@daily").
type SchedulesConfig struct {
	// Poll fetches the repository and reconciles; default "@every 30s".
	Poll string `yaml:"poll"`
	// Retrain retrains the model from history; default "@daily". A retrain
	// also runs after every outcome.
	Retrain string `yaml:"retrain"`
	// Retention prunes KPI samples; default "@hourly".
	Retention string `yaml:"retention"`
}

// HTTPConfig is the HTTP server.
type HTTPConfig struct {
	// Listen is the address; default "127.0.0.1:8080". Empty host binds all
	// interfaces, which must be asked for explicitly (":8080" or "0.0.0.0:8080").
	Listen string `yaml:"listen"`
	// WebhookSecretEnv names the environment variable with the GitHub webhook
	// secret; without it the webhook endpoint answers 404.
	WebhookSecretEnv string `yaml:"webhook_secret_env"`
	// APITokenEnv or APITokenFile (at most one) names where the bearer
	// token of the operators' command API is (POST
	// /api/changes/{version}/{command}: pause, resume, abort, promote-now,
	// exclude, include). Without either the command API is off (404); a
	// token that is configured but cannot be read stops the daemon.
	APITokenEnv  string `yaml:"api_token_env"`
	APITokenFile string `yaml:"api_token_file"`
}

// APIToken is the reference to the command API's token (zero: none).
func (c HTTPConfig) APIToken() secret.Ref {
	return secret.Ref{Env: c.APITokenEnv, File: c.APITokenFile}
}

// Forge kinds.
const (
	ForgeGitHub = "github"
	ForgeLocal  = "local"
)

// ForgeConfig selects the forge.
type ForgeConfig struct {
	// Kind is "github" or "local" (comments in the audit branch, approvals by
	// `schemacanary approve`); default "local".
	Kind string `yaml:"kind"`
	// BaseURL is the GitHub API base URL; default https://api.github.com/.
	// Set it for GitHub Enterprise (https://ghe.example.com/api/v3/).
	BaseURL string `yaml:"base_url"`
	// Owner and Repo name the GitHub repository; by default they are taken
	// from repo.url when it is a github.com URL.
	Owner string `yaml:"owner"`
	Repo  string `yaml:"repo"`
	// TokenEnv names the variable with the API token; default repo.token_env.
	TokenEnv string `yaml:"token_env"`
	// Approvers (local forge) are the names whose approval files on the
	// audit branch count; without them only `schemacanary approve` (with
	// the control store's credentials) approves.
	Approvers []string `yaml:"approvers"`
}

// Duration is a time.Duration written as "30s" or "15m" in YAML: the same
// type as a migration's front-matter bake (its D method gives the value).
type Duration = migration.Duration

// ErrConfig is wrapped by every configuration error from LoadConfig and
// ParseConfig.
var ErrConfig = errors.New("invalid configuration")

// LoadConfig reads, strictly parses, defaults and validates a config file.
// Unknown keys are errors naming the line. No secret is read here.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig is LoadConfig over bytes.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s", ErrConfig, strings.TrimPrefix(strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:\n  ", ""), "yaml: "))
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) setDefaults() {
	c.Fleet.SetDefaults()
	c.Canary.SetDefaults()
	c.Rollback.SetDefaults()
	c.Alerts.setDefaults()
	if c.Repo.Branch == "" {
		c.Repo.Branch = "main"
	}
	if c.Repo.Dir == "" {
		c.Repo.Dir = "migrations"
	}
	if c.Repo.MaxFileBytes == 0 {
		c.Repo.MaxFileBytes = migration.DefaultMaxFileBytes
	}
	if c.Control.KPIRetention == 0 {
		c.Control.KPIRetention = Duration(720 * time.Hour)
	}
	if c.Control.KPIMaxRows == 0 {
		c.Control.KPIMaxRows = 1_000_000
	}
	if c.Prediction.Threshold == 0 {
		c.Prediction.Threshold = 0.80
	}
	if c.Prediction.LiveCatalog == nil {
		on := true
		c.Prediction.LiveCatalog = &on
	}
	for _, b := range []**bool{&c.Prediction.DryRun, &c.Prediction.DataChecks} {
		if *b == nil {
			on := true
			*b = &on
		}
	}
	if c.Prediction.CheckTimeout == 0 {
		c.Prediction.CheckTimeout = Duration(30 * time.Second)
	}
	if c.Prediction.MinHistory == 0 {
		c.Prediction.MinHistory = 30
	}
	if c.Prediction.Timeout == 0 {
		c.Prediction.Timeout = Duration(reconciler.DefaultAnalysisTimeout)
	}
	if c.Schedules.Poll == "" {
		c.Schedules.Poll = "@every 30s"
		if c.Repo.Poll > 0 {
			c.Schedules.Poll = "@every " + c.Repo.Poll.D().String()
		}
	}
	if c.Schedules.Retrain == "" {
		c.Schedules.Retrain = "@daily"
	}
	if c.Schedules.Retention == "" {
		c.Schedules.Retention = "@hourly"
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:8080"
	}
	if c.Forge.Kind == "" {
		c.Forge.Kind = ForgeLocal
	}
	if c.Reconcile.OnInstanceDown == "" {
		c.Reconcile.OnInstanceDown = reconciler.OnDownPause
	}
	if c.Reconcile.MaxAttempts == 0 {
		c.Reconcile.MaxAttempts = 5
	}
	if c.Reconcile.LeaderInterval == 0 {
		c.Reconcile.LeaderInterval = Duration(2 * time.Second)
	}
	if c.Forge.TokenEnv == "" {
		c.Forge.TokenEnv = c.Repo.TokenEnv
	}
	if c.Forge.Kind == ForgeGitHub {
		if c.Forge.BaseURL == "" {
			c.Forge.BaseURL = "https://api.github.com/"
		}
		if c.Forge.Owner == "" && c.Forge.Repo == "" {
			c.Forge.Owner, c.Forge.Repo = githubOwnerRepo(c.Repo.URL)
		}
	}
}

// Validate checks the configuration; every problem is reported, joined, each
// wrapping ErrConfig.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.Repo.URL == "" {
		bad("repo.url is required")
	}
	if u := c.Forge.BaseURL; u != "" && c.Forge.Kind == ForgeGitHub {
		if err := checkBaseURL(u); err != nil {
			bad("forge.base_url: %v", err)
		}
	}
	if len(c.Prediction.Rules) > 0 {
		if _, err := analysis.Analyze(context.Background(), migration.Migration{}, analysis.WithRuleSettings(c.Prediction.Rules)); err != nil {
			bad("prediction.rules: %v", errors.Unwrap(err))
		}
	}
	if strings.Contains(c.Repo.URL, "@") && strings.Contains(c.Repo.URL, "://") {
		if u := c.Repo.URL[strings.Index(c.Repo.URL, "://")+3:]; strings.Contains(u[:max(0, strings.Index(u, "@"))], ":") {
			bad("repo.url must not embed a password; use repo.token_env")
		}
	}
	if c.Repo.MaxFileBytes < 0 {
		bad("repo.max_file_bytes must be > 0, got %d", c.Repo.MaxFileBytes)
	}
	if (c.Control.DSNEnv == "") == (c.Control.DSNFile == "") {
		bad("control: set exactly one of dsn_env and dsn_file")
	}
	if c.Prediction.Threshold < 0 || c.Prediction.Threshold > 1 {
		bad("prediction.threshold %v is outside 0..1", c.Prediction.Threshold)
	}
	if c.Prediction.MinHistory < 0 {
		bad("prediction.min_history must not be negative")
	}
	if c.Repo.Poll > 0 && c.Schedules.Poll != "@every "+c.Repo.Poll.D().String() {
		bad("set repo.poll or schedules.poll, not both")
	}
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	for name, spec := range map[string]string{"poll": c.Schedules.Poll, "retrain": c.Schedules.Retrain, "retention": c.Schedules.Retention} {
		if _, err := parser.Parse(spec); err != nil {
			bad("schedules.%s %q: %v", name, spec, err)
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen %q: %v", c.HTTP.Listen, err)
	}
	if c.HTTP.APITokenEnv != "" && c.HTTP.APITokenFile != "" {
		bad("http: set at most one of api_token_env and api_token_file")
	}
	switch c.Forge.Kind {
	case ForgeLocal:
	case ForgeGitHub:
		if c.Forge.Owner == "" || c.Forge.Repo == "" {
			bad("forge: owner and repo are required for github unless repo.url is a github.com URL")
		}
		if c.Forge.TokenEnv == "" {
			bad("forge: token_env (or repo.token_env) is required for github")
		}
	default:
		bad("forge.kind %q: want github or local", c.Forge.Kind)
	}
	if p := c.Reconcile.OnInstanceDown; p != reconciler.OnDownPause && p != reconciler.OnDownRollback && p != reconciler.OnDownHold {
		bad("reconcile.on_instance_down %q: want pause, rollback or hold", p)
	}
	if c.Reconcile.MaxAttempts < 1 {
		bad("reconcile.max_attempts must be >= 1")
	}
	if c.Control.KPIMaxRows < 0 {
		bad("control.kpi_max_rows must not be negative")
	}
	errs = append(errs, c.Alerts.validate()...)
	for _, err := range []error{c.Fleet.Validate(), c.Canary.Validate(), c.Rollback.Validate()} {
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrConfig, err))
		}
	}
	return errors.Join(errs...)
}

// githubOwnerRepo extracts owner and repo from https://github.com/o/r(.git)
// or git@github.com:o/r.git; empty strings otherwise.
func githubOwnerRepo(url string) (string, string) {
	var rest string
	switch {
	case strings.HasPrefix(url, "https://github.com/"):
		rest = strings.TrimPrefix(url, "https://github.com/")
	case strings.HasPrefix(url, "git@github.com:"):
		rest = strings.TrimPrefix(url, "git@github.com:")
	default:
		return "", ""
	}
	rest = strings.TrimSuffix(strings.TrimSuffix(rest, "/"), ".git")
	o, r, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(r, "/") {
		return "", ""
	}
	return o, r
}

// checkBaseURL requires https for a forge API URL, unless the host is a
// loopback address: the API token travels with every request.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%q: the API token would travel in clear text; use https (plain http is accepted only for a loopback address)", raw)
}
