package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/internal/demo"
)

func newDemoCmd(g *globalFlags) *cobra.Command {
	var (
		keep    bool
		bake    time.Duration
		verbose bool
		model   string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Walk three changes through the whole pipeline on local PostgreSQL servers",
		Long: `demo runs schemacanary end to end on this machine, from the system's PostgreSQL
binaries: a control server and a fleet of four (one canary, three production), seeded
with a shop's data (hundreds of thousands of rows) and under an open-loop load; a local
Git repository made from examples/migrations; and the daemon (app.Build, as
'schemacanary run' builds it) with the local forge.

It then merges three changes one by one and prints the timeline as the daemon takes them:
  00015 (safe)     predicted, canaried, judged, promoted wave by wave to the whole fleet;
  00016 (harmful)  drops the index the hot query needs: the model flags it, its author
                   approves it anyway, the bake's evidence takes the live re-prediction
                   below rollback_below and the change is rolled back with nothing
                   lost and a revert branch is pushed; an operator releases the held
                   queue with 'schemacanary skip';
  00017 (risky)    a volatile default rewrites orders under an ACCESS EXCLUSIVE lock:
                   low confidence, it waits for 'schemacanary approve' and is approved;
                   then its canary decides (on the build machine the rewritten table's
                   hot query ran about 2x slower during the bake, and it was rolled back).
It ends with a summary and the audit branch's log, and removes everything, unless --keep,
which leaves it all running (status page, repository, servers) until Ctrl-C.

Needs the PostgreSQL server binaries (apt-get install postgresql postgresql-contrib);
takes about three minutes on two cores.`,
		Example: `  make demo
  schemacanary demo --keep          # then open the printed status page URL
  schemacanary demo --bake 60s -v   # slower bakes, daemon logs on stderr`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var log *slog.Logger
			if verbose {
				log = g.logger(cmd.ErrOrStderr())
			} else {
				log = slog.New(slog.NewTextHandler(io.Discard, nil))
			}
			_, err := demo.Run(cmd.Context(), demo.Options{Out: cmd.OutOrStdout(), Log: log, Keep: keep,
				Model: model, Timing: demo.Timing{Bake: bake}})
			if errors.Is(err, demo.ErrNoPostgres) {
				return &exitError{code: statusError, msg: "schemacanary demo needs the PostgreSQL server binaries: apt-get install postgresql postgresql-contrib (or set PG_BINDIR)"}
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "demo failed:", err)
				return &exitError{code: statusFindings}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep everything running after the walk and print the status page URL; Ctrl-C cleans up")
	cmd.Flags().DurationVar(&bake, "bake", 0, "canary bake time (default 25s)")
	cmd.Flags().StringVar(&model, "model", "", "predict with this trained model file (schemacanary train --out) instead of the embedded one")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print the daemon's logs on stderr")
	return cmd
}
