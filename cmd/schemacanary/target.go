package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/schemacanary/schemacanary/analysis"
)

// targetFlags are the flags of the commands that can check migrations
// against a live database (lint, predict).
type targetFlags struct {
	dsn, dsnEnv      string
	sample           time.Duration
	calibrationCache string
	dryRun           bool
	dataChecks       bool
	checkTimeout     time.Duration
}

func (f *targetFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.dsn, "dsn", "", "PostgreSQL connection string of a live target (prefer --dsn-env)")
	fl.StringVar(&f.dsnEnv, "dsn-env", "", "name of the environment variable holding the DSN")
	fl.DurationVar(&f.sample, "sample-interval", 2*time.Second, "with a DSN: interval between the two pg_stat_user_tables samples (0: no rates)")
	fl.StringVar(&f.calibrationCache, "calibration-cache", defaultCalibrationCache(), "with a DSN: file caching the server's measured rewrite throughput (\"\": measure every run)")
	fl.BoolVar(&f.dryRun, "dry-run", true, "with a DSN: run Up on a schema-only scratch copy of the target (needs CREATEDB, pg_dump and psql)")
	fl.BoolVar(&f.dataChecks, "data-checks", true, "with a DSN: check the target's rows for what will certainly fail (duplicates, NULLs, violations)")
	fl.DurationVar(&f.checkTimeout, "check-timeout", 30*time.Second, "with a DSN: statement_timeout of each data check and bound of the dry run")
}

// resolveDSN returns the DSN from --dsn or --dsn-env ("" for none).
func (f *targetFlags) resolveDSN() (string, error) {
	if f.dsnEnv == "" {
		return f.dsn, nil
	}
	dsn := os.Getenv(f.dsnEnv)
	if dsn == "" {
		return "", &exitError{code: statusError, msg: fmt.Sprintf("--dsn-env: $%s is empty", f.dsnEnv)}
	}
	return dsn, nil
}

// open connects to the target, or returns nil without a DSN; the target
// logs to log.
func (f *targetFlags) open(ctx context.Context, log *slog.Logger) (*analysis.Target, error) {
	dsn, err := f.resolveDSN()
	if err != nil || dsn == "" {
		return nil, err
	}
	t, err := analysis.OpenTarget(ctx, dsn, analysis.WithTargetLogger(log),
		analysis.WithDryRun(f.dryRun), analysis.WithDataChecks(f.dataChecks), analysis.WithCheckTimeout(f.checkTimeout),
		analysis.WithTargetCatalog(analysis.WithSampleInterval(f.sample), analysis.WithCalibrationCache(f.calibrationCache)))
	if err != nil {
		return nil, &exitError{code: statusError, msg: err.Error()}
	}
	return t, nil
}
