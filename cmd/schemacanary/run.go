package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/internal/app"
	"github.com/schemacanary/schemacanary/internal/secret"
)

func newRunCmd(g *globalFlags) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the reconciler daemon (the product you deploy)",
		Long: `run keeps a PostgreSQL fleet in step with a Git repository of goose migrations.

Every replica serves HTTP (/metrics, /healthz, /readyz, /api/changes, the GitHub
webhook and the status page, on 127.0.0.1:8080 by default) and competes for a
session advisory lock on the control database; the one holding it leads: it polls
the repository on the schedules.poll cron (default "@every 30s", or at once on a
signed webhook), predicts every open PR in a sticky comment, and takes merged
migrations through the fleet one at a time, in version order:
discovered → predicted → (awaiting_approval) → approved → canary → baking →
promoting → done, or rolling_back → rolled_back (revert branch/PR opened) →
reverted. Every transition is stored in the control store before its side effect
and committed to the schemacanary-audit branch, so the daemon may be killed at any
moment and resumes exactly. A leader that loses its lock connection stops acting
at once.

Secrets are referenced in the config (dsn_env, dsn_file, token_env) and never
logged. See docs/operations.md.`,
		Example: `  export CONTROL_DSN=postgres://schemacanary@db/control
  schemacanary run -c schemacanary.yaml
  schemacanary run -c schemacanary.yaml --log-format json --log-level debug`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := app.LoadConfig(cfgPath)
			if err != nil {
				return &exitError{code: statusError, msg: err.Error()}
			}
			red := &secret.Redactor{}
			log := slog.New(secret.NewRedactingHandler(g.logger(cmd.ErrOrStderr()).Handler(), red))
			d, err := app.Build(cmd.Context(), cfg, log, red)
			if err != nil {
				return err
			}
			defer d.Close()
			log.Info("schemacanary running", "version", version, "listen", d.Server.Addr(), "repo", cfg.Repo.URL, "branch", cfg.Repo.Branch)
			if err := d.Run(cmd.Context()); err != nil {
				return red.Err(fmt.Errorf("run: %w", err))
			}
			log.Info("schemacanary stopped")
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "schemacanary.yaml", "configuration file")
	return cmd
}
