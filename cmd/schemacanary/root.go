package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// globalFlags are the flags every command understands.
type globalFlags struct {
	logLevel  string
	logFormat string
}

func newRootCmd() *cobra.Command {
	var g globalFlags
	root := &cobra.Command{
		Use:   "schemacanary",
		Short: "Safe PostgreSQL schema changes from a Git repository of goose migrations",
		Long: `schemacanary treats a Git repository of goose SQL migrations as the source of truth.
For every change it predicts the chance of a safe deployment, applies it to a canary
group under lock_timeout, compares KPIs of canary and control with a statistical test,
and rolls back (losing no data) or promotes it wave by wave. Every step is audited in Git.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	// One constructor per command, each in its own file.
	root.AddCommand(
		newVersionCmd(),
		newHistoryCmd(),
		newLintCmd(&g),
		newVerifyCmd(),
		newChangesCmd(),
		newLabCmd(&g),
		newTrainCmd(),
		newPredictCmd(&g),
		newRolloutCmd(&g),
		newDemoCmd(&g),
		newRunCmd(&g),
		newApproveCmd(&g),
		newSkipCmd(&g),
		newPromoteCmd(&g),
	)
	root.AddCommand(newControlCmds(&g)...)
	return root
}

// logger builds the slog.Logger for a command from the global flags; logs go
// to stderr so stdout stays machine-readable.
func (g *globalFlags) logger(w io.Writer) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if g.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the schemacanary version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { cmd.Println(version) },
	}
}
