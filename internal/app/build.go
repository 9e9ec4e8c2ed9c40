package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/schemacanary/schemacanary/gitsrc/forge"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/store"
	"github.com/schemacanary/schemacanary/reconciler/web"

	"github.com/schemacanary/schemacanary/gitsrc/audit"

	"github.com/schemacanary/schemacanary/rollout/kpi"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/gitsrc"
	"github.com/schemacanary/schemacanary/rollout"
)

// NewAssessor builds the daemon's Assessor from its config: the threshold,
// the history of the control store, the models, and (with
// prediction.live_catalog) the canary instance as the live target. Build
// uses it; so does the test that holds `predict --dsn` to the daemon's
// assessment. Call the returned function to release the target.
func NewAssessor(ctx context.Context, cfg *Config, fleet *rollout.Fleet, history assess.History, models assess.ModelSource, log *slog.Logger, red *secret.Redactor) (*assess.Assessor, func(), error) {
	opts := []assess.Option{assess.WithThreshold(cfg.Prediction.Threshold), assess.WithHistory(history)}
	if len(cfg.Prediction.Rules) > 0 {
		opts = append(opts, assess.WithAnalysisOptions(analysis.WithRuleSettings(cfg.Prediction.Rules)))
	}
	done := func() {}
	if target := openTarget(ctx, cfg, fleet, log, red); target != nil {
		done = target.Close
		opts = append(opts, assess.WithTarget(target))
	}
	a, err := assess.New(models, opts...)
	if err != nil {
		done()
		return nil, nil, fmt.Errorf("prediction: %w", err)
	}
	return a, done, nil
}

// openTarget opens the live target changes are assessed against: the first
// instance of the canary wave, which no change has touched when it is
// assessed. It returns nil (and logs why) when prediction.live_catalog is
// off or the instance cannot be reached: assessments then say that nothing
// was measured live.
func openTarget(ctx context.Context, cfg *Config, fleet *rollout.Fleet, log *slog.Logger, red *secret.Redactor) *analysis.Target {
	if !*cfg.Prediction.LiveCatalog || len(fleet.Instances) == 0 {
		return nil
	}
	canary := fleet.Instances[0]
	if waves, _, err := fleet.Plan(); err == nil && len(waves) > 0 && len(waves[0].Instances) > 0 {
		canary = waves[0].Instances[0]
	}
	catOpts := []analysis.CatalogOption{}
	if cache, err := os.UserCacheDir(); err == nil {
		catOpts = append(catOpts, analysis.WithCalibrationCache(filepath.Join(cache, "schemacanary", "calibration.json")))
	}
	opts := []analysis.TargetOption{analysis.WithTargetLogger(log), analysis.WithTargetCatalog(catOpts...),
		analysis.WithDryRun(*cfg.Prediction.DryRun), analysis.WithDataChecks(*cfg.Prediction.DataChecks),
		analysis.WithCheckTimeout(cfg.Prediction.CheckTimeout.D())}
	if canary.Schema != "" {
		opts = append(opts, analysis.WithTargetSchema(canary.Schema)) // the canary tenant's tables
	}
	t, err := analysis.OpenTarget(ctx, canary.DSN, opts...)
	if err != nil {
		log.Warn("live target unavailable; assessing without live context", "instance", canary.Name, "err", red.Err(err))
		return nil
	}
	log.Info("assessing changes against the canary", "instance", canary.Name)
	return t
}

// Build wires a Daemon from a loaded Config: it resolves the secrets
// (registering them with red), opens the control store (migrating its
// schema), clones the repository, and builds the forge, audit, analyzer,
// model, fleet, canary, leader elector and HTTP server. log should already
// redact through red. Close the Daemon to release everything.
func Build(ctx context.Context, cfg *Config, log *slog.Logger, red *secret.Redactor) (d *Daemon, err error) {
	built := &Daemon{Config: cfg, Log: log, Metrics: reconciler.NewMetrics()}
	d = built
	defer func() {
		if err != nil {
			built.Close() // d is nil here: every error path returns nil, err
			err = red.Err(err)
		}
	}()
	dsn, err := cfg.Control.DSN().Resolve(red)
	if err != nil {
		return nil, fmt.Errorf("control store dsn: %w", err)
	}
	st, err := store.Open(ctx, dsn, red, log)
	if err != nil {
		return nil, err
	}
	d.Store = st
	d.closers = append(d.closers, st.Close)

	var auth transport.AuthMethod
	repoOpts := []gitsrc.Option{gitsrc.WithBranch(cfg.Repo.Branch), gitsrc.WithMigrationsDir(cfg.Repo.Dir),
		gitsrc.WithLogger(log), gitsrc.WithPullRequestRefs(cfg.Forge.Kind == ForgeGitHub),
		gitsrc.WithMaxFileBytes(cfg.Repo.MaxFileBytes)}
	if cfg.Repo.TokenEnv != "" {
		tok, err := secret.Ref{Env: cfg.Repo.TokenEnv}.Resolve(red)
		if err != nil {
			return nil, fmt.Errorf("repo.token_env: %w", err)
		}
		auth = &http.BasicAuth{Username: "x-access-token", Password: tok.Reveal()}
		repoOpts = append(repoOpts, gitsrc.WithBasicAuth("x-access-token", tok.Reveal()))
	}
	cloneDir := cfg.Repo.CloneDir
	if cloneDir == "" {
		if cache, err := os.UserCacheDir(); err == nil {
			cloneDir = filepath.Join(cache, "schemacanary", "mirror")
		}
	}
	if cloneDir != "" {
		repoOpts = append(repoOpts, gitsrc.WithDir(cloneDir))
	}
	repo, err := gitsrc.Open(ctx, cfg.Repo.URL, repoOpts...)
	if err != nil {
		return nil, fmt.Errorf("repository: %w", err)
	}
	d.closers = append(d.closers, func() { repo.Close() })

	auditOpts := []audit.AuditOption{audit.WithAuditRemote("origin"), audit.WithAuditLogger(log)}
	if auth != nil {
		auditOpts = append(auditOpts, audit.WithAuditAuth(auth))
	}
	aud, err := audit.NewAudit(repo.Git(), auditOpts...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var fg reconciler.Forge
	switch cfg.Forge.Kind {
	case ForgeGitHub:
		tok, err := secret.Ref{Env: cfg.Forge.TokenEnv}.Resolve(red)
		if err != nil {
			return nil, fmt.Errorf("forge.token_env: %w", err)
		}
		fg, err = forge.NewGitHub(cfg.Forge.Owner, cfg.Forge.Repo, tok.Reveal(), forge.WithGitHubBaseURL(cfg.Forge.BaseURL),
			forge.WithGitHubBranch(cfg.Repo.Branch), forge.WithGitHubLogger(log))
		if err != nil {
			return nil, fmt.Errorf("forge: %w", err)
		}
	default:
		opts := []forge.LocalOption{forge.WithLocalRemote("origin"), forge.WithLocalBranch(cfg.Repo.Branch), forge.WithLocalLogger(log)}
		if len(cfg.Forge.Approvers) > 0 {
			opts = append(opts, forge.WithLocalApprovers(cfg.Forge.Approvers...))
		}
		if auth != nil {
			opts = append(opts, forge.WithLocalAuth(auth))
		}
		fg, err = forge.NewLocalForge(repo.Git(), aud, opts...)
		if err != nil {
			return nil, fmt.Errorf("forge: %w", err)
		}
	}

	// The fleet is resolved now (a failure here stops the start: there is
	// no previous fleet to keep) and again at the start of every rollout
	// run and Holdings read, by the Roller.
	fm := newFleetMetrics(d.Metrics.Registry())
	resolver, err := rollout.NewResolver(cfg.Fleet, rollout.WithResolverLogger(log), rollout.WithSecretSink(red.Add),
		rollout.WithFleetObserver(fm.observe))
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	fleet, err := resolver.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	fm.size.Set(float64(len(fleet.Instances)))
	sources, err := kpi.NewSources(cfg.Canary.KPIs, st.KPIWindows())
	if err != nil {
		return nil, fmt.Errorf("canary.kpis: %w", err)
	}
	d.closers = append(d.closers, sources.Close)
	canary, err := rollout.NewCanary(cfg.Canary, cfg.Rollback, rollout.WithSources(sources.List()...), rollout.WithLogger(log),
		rollout.WithDataChecker(reconciler.DataChecks{Timeout: cfg.Prediction.CheckTimeout.D()}))
	if err != nil {
		return nil, fmt.Errorf("canary: %w", err)
	}
	d.closers = append(d.closers, canary.Close)
	m, from, err := InitialModel(ctx, st, cfg.Prediction.Model)
	if err != nil {
		return nil, err
	}
	log.Info("model loaded", "model", m.Version, "from", from)
	models := NewModels(m)
	labData, err := LabDataset(ctx)
	if err != nil {
		return nil, err
	}
	d.Retrainer = NewRetrainer(st, models, labData, aud, cfg.Prediction.MinHistory, log, d.Metrics)
	assessor, closeAssessor, err := NewAssessor(ctx, cfg, fleet, st, models, log, red)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, closeAssessor)
	recOpts := []reconciler.Option{reconciler.WithLogger(log), reconciler.WithMetrics(d.Metrics),
		reconciler.WithOnInstanceDown(cfg.Reconcile.OnInstanceDown), reconciler.WithMaxAttempts(cfg.Reconcile.MaxAttempts),
		reconciler.WithOnOutcome(d.TriggerRetrain), reconciler.WithAnalysisTimeout(cfg.Prediction.Timeout.D())}
	if d.Alerts, err = NewAlerts(cfg.Alerts, log, red, d.Metrics); err != nil {
		return nil, err
	} else if d.Alerts != nil {
		recOpts = append(recOpts, reconciler.WithNotifier(d.Alerts))
	}
	rec, err := reconciler.New(st, RepoSource{Repo: repo}, assessor, CanaryRoller{Canary: canary, Fleet: resolver}, fg, aud, recOpts...)
	if err != nil {
		return nil, err
	}
	d.Reconcile = rec
	d.Leader, err = NewLeader(dsn, red, WithLeaderInterval(cfg.Reconcile.LeaderInterval.D()), WithLeaderLogger(log), WithLeaderMetrics(d.Metrics))
	if err != nil {
		return nil, err
	}
	status, err := web.NewStatusHandler(store.NewStatus(st), web.WithStatusLogger(log))
	if err != nil {
		return nil, err
	}
	srvOpts := []web.ServerOption{web.WithStatusPage(status), web.WithServerLogger(log), web.WithLeaderStatus(d.Leader.Leading)}
	if cfg.HTTP.WebhookSecretEnv != "" {
		sec, err := secret.Ref{Env: cfg.HTTP.WebhookSecretEnv}.Resolve(red)
		if err != nil {
			return nil, fmt.Errorf("http.webhook_secret_env: %w", err)
		}
		srvOpts = append(srvOpts, web.WithWebhook(sec, d.Trigger))
	}
	if ref := cfg.HTTP.APIToken(); ref != (secret.Ref{}) {
		tok, err := ref.Resolve(red)
		if err != nil {
			return nil, fmt.Errorf("http.api_token_env/api_token_file: %w", err)
		}
		cmdr := NewCommander(st, cfg)
		cmdr.Fleet = resolver // exclude/include name targets of the fleet in use
		srvOpts = append(srvOpts, web.WithCommands(tok, cmdr))
	}
	d.Server, err = web.NewServer(st, d.Metrics.Registry(), srvOpts...)
	if err != nil {
		return nil, err
	}
	if err := d.Server.Listen(cfg.HTTP.Listen); err != nil {
		return nil, err
	}
	return d, nil
}
