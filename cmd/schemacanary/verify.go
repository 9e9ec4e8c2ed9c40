package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/analysis"
)

type verifyFlags struct {
	dsn, dsnEnv, format, pgBin string
}

func newVerifyCmd() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify FILE --dsn DSN",
		Short: "Prove a migration's Down section on a scratch copy of the target's schema",
		Long: `verify copies the schema of the target database (pg_dump --schema-only) into a
new scratch database on the same server, applies the migration's Up, Down and
Up again the way goose does, and compares the schema dumps. Down must restore
the schema exactly, and the second Up must give the same schema as the first.
Any difference, or a section that fails, is reported as a hazard
(verify-schema-drift, verify-failed). The scratch database is dropped
afterwards; the target is only read. The role needs CREATEDB, and pg_dump and
psql must be on PATH or in /usr/lib/postgresql/*/bin (or --pg-bin).

Exit status: 0 verified, 1 hazards found, 2 usage, connection or tooling error.`,
		Example: `  schemacanary verify migrations/0042_add_note.sql --dsn-env STAGING_DSN
  schemacanary verify 0042_add_note.sql --dsn postgres://postgres@127.0.0.1:5432/app --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runVerify(cmd, f, args[0]) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dsn, "dsn", "", "target database (its schema is copied; prefer --dsn-env)")
	fl.StringVar(&f.dsnEnv, "dsn-env", "", "name of the environment variable holding the DSN")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	fl.StringVar(&f.pgBin, "pg-bin", "", "folder with pg_dump and psql")
	return cmd
}

func runVerify(cmd *cobra.Command, f verifyFlags, path string) error {
	dsn := f.dsn
	if f.dsnEnv != "" {
		dsn = os.Getenv(f.dsnEnv)
	}
	if dsn == "" {
		return &exitError{code: statusError, msg: "verify: --dsn or --dsn-env is required"}
	}
	if f.format != "text" && f.format != "json" {
		return &exitError{code: statusError, msg: fmt.Sprintf("verify: unknown --format %q", f.format)}
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	m, err := loadMigration(path, src)
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	var opts []analysis.VerifyOption
	if f.pgBin != "" {
		opts = append(opts, analysis.WithPgBinDir(f.pgBin))
	}
	res, err := analysis.Verify(cmd.Context(), dsn, m, opts...)
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	out := cmd.OutOrStdout()
	if f.format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return &exitError{code: statusError, msg: err.Error()}
		}
	} else {
		for _, s := range res.Steps {
			status := "ok"
			if s.Error != "" {
				status = "FAILED: " + s.Error
			}
			fmt.Fprintf(out, "%-9s %8s  %s\n", s.Name, s.Duration.Round(1e6), status)
		}
		if err := analysis.WriteReports(out, analysis.FormatText, []*analysis.Report{{Findings: res.Findings}}); err != nil {
			return &exitError{code: statusError, msg: err.Error()}
		}
		for _, d := range res.DownDiff {
			fmt.Fprintln(out, "  down: "+strings.TrimSpace(d))
		}
		for _, d := range res.ReupDiff {
			fmt.Fprintln(out, "  re-up: "+strings.TrimSpace(d))
		}
		if res.OK() {
			fmt.Fprintln(out, "verified: Down restores the schema and Up re-applies cleanly")
		}
	}
	if !res.OK() {
		return &exitError{code: statusFindings}
	}
	return nil
}
