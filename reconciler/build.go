package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/gitsrc"
	"github.com/schemacanary/schemacanary/rollout"
)

// Build wires a Daemon from a loaded Config: it resolves the secrets
// (registering them with red), opens the control store (migrating its
// schema), clones the repository, and builds the forge, audit, analyzer,
// model, fleet, canary, leader elector and HTTP server. log should already
// redact through red. Close the Daemon to release everything.
func Build(ctx context.Context, cfg *Config, log *slog.Logger, red *Redactor) (d *Daemon, err error) {
	built := &Daemon{Config: cfg, Log: log, Metrics: NewMetrics()}
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
	store, err := OpenStore(ctx, dsn, red, log)
	if err != nil {
		return nil, err
	}
	d.Store = store
	d.closers = append(d.closers, store.Close)

	var auth transport.AuthMethod
	repoOpts := []gitsrc.Option{gitsrc.WithBranch(cfg.Repo.Branch), gitsrc.WithMigrationsDir(cfg.Repo.Dir),
		gitsrc.WithLogger(log), gitsrc.WithPullRequestRefs(cfg.Forge.Kind == ForgeGitHub),
		gitsrc.WithMaxFileBytes(cfg.Repo.MaxFileBytes)}
	if cfg.Repo.TokenEnv != "" {
		tok, err := SecretRef{Env: cfg.Repo.TokenEnv}.Resolve(red)
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

	auditOpts := []gitsrc.AuditOption{gitsrc.WithAuditRemote("origin"), gitsrc.WithAuditLogger(log)}
	if auth != nil {
		auditOpts = append(auditOpts, gitsrc.WithAuditAuth(auth))
	}
	audit, err := gitsrc.NewAudit(repo.Git(), auditOpts...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var forge Forge
	switch cfg.Forge.Kind {
	case ForgeGitHub:
		tok, err := SecretRef{Env: cfg.Forge.TokenEnv}.Resolve(red)
		if err != nil {
			return nil, fmt.Errorf("forge.token_env: %w", err)
		}
		forge, err = gitsrc.NewGitHub(cfg.Forge.Owner, cfg.Forge.Repo, tok.Reveal(), gitsrc.WithGitHubBaseURL(cfg.Forge.BaseURL),
			gitsrc.WithGitHubBranch(cfg.Repo.Branch), gitsrc.WithGitHubLogger(log))
		if err != nil {
			return nil, fmt.Errorf("forge: %w", err)
		}
	default:
		opts := []gitsrc.LocalOption{gitsrc.WithLocalRemote("origin"), gitsrc.WithLocalBranch(cfg.Repo.Branch), gitsrc.WithLocalLogger(log)}
		if auth != nil {
			opts = append(opts, gitsrc.WithLocalAuth(auth))
		}
		forge, err = gitsrc.NewLocalForge(repo.Git(), audit, opts...)
		if err != nil {
			return nil, fmt.Errorf("forge: %w", err)
		}
	}

	fleet, err := cfg.Fleet.Resolve()
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	for _, in := range fleet.Instances {
		red.Add(in.DSN)
	}
	sources, err := rollout.NewSources(cfg.Canary.KPIs, store.KPIWindows())
	if err != nil {
		return nil, fmt.Errorf("canary.kpis: %w", err)
	}
	d.closers = append(d.closers, sources.Close)
	canary, err := rollout.NewCanary(cfg.Canary, cfg.Rollback, rollout.WithSources(sources.List()...), rollout.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("canary: %w", err)
	}
	var an PGAnalyzer
	if len(fleet.Instances) > 0 && *cfg.Prediction.LiveCatalog {
		catOpts := []analysis.CatalogOption{analysis.WithCatalogLogger(log)}
		if cache, err := os.UserCacheDir(); err == nil {
			catOpts = append(catOpts, analysis.WithCalibrationCache(filepath.Join(cache, "schemacanary", "calibration.json")))
		}
		cat, err := analysis.NewPGCatalog(ctx, fleet.Instances[0].DSN, catOpts...)
		if err != nil {
			log.Warn("live catalog unavailable; analyzing without table sizes", "instance", fleet.Instances[0].Name, "err", red.Err(err))
		} else {
			an.Catalog = cat
			d.closers = append(d.closers, cat.Close)
		}
	}
	m, from, err := InitialModel(ctx, store, cfg.Prediction.Model)
	if err != nil {
		return nil, err
	}
	log.Info("model loaded", "model", m.Version, "from", from)
	pred := NewModelPredictor(m)
	d.Retrainer = NewRetrainer(store, pred, cfg.Prediction.MinHistory, log, d.Metrics)

	rec, err := New(store, RepoSource{Repo: repo}, an, pred, CanaryRoller{Canary: canary, Fleet: fleet}, forge, audit,
		WithThreshold(cfg.Prediction.Threshold), WithLogger(log), WithMetrics(d.Metrics),
		WithOnInstanceDown(cfg.Reconcile.OnInstanceDown), WithMaxAttempts(cfg.Reconcile.MaxAttempts),
		WithOnOutcome(d.TriggerRetrain), WithAnalysisTimeout(cfg.Prediction.Timeout.D()), WithTrigger(d.Trigger))
	if err != nil {
		return nil, err
	}
	d.Reconcile = rec
	d.Leader, err = NewLeader(dsn, red, WithLeaderInterval(cfg.Reconcile.LeaderInterval.D()), WithLeaderLogger(log), WithLeaderMetrics(d.Metrics))
	if err != nil {
		return nil, err
	}
	status, err := NewStatusHandler(NewStoreStatus(store), WithStatusLogger(log))
	if err != nil {
		return nil, err
	}
	srvOpts := []ServerOption{WithStatusPage(status), WithServerLogger(log), WithLeaderStatus(d.Leader.Leading)}
	if cfg.HTTP.WebhookSecretEnv != "" {
		sec, err := SecretRef{Env: cfg.HTTP.WebhookSecretEnv}.Resolve(red)
		if err != nil {
			return nil, fmt.Errorf("http.webhook_secret_env: %w", err)
		}
		srvOpts = append(srvOpts, WithWebhook(sec, d.Trigger))
	}
	d.Server, err = NewServer(store, d.Metrics, srvOpts...)
	if err != nil {
		return nil, err
	}
	if err := d.Server.Listen(cfg.HTTP.Listen); err != nil {
		return nil, err
	}
	return d, nil
}
