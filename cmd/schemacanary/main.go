// Command schemacanary makes PostgreSQL schema changes safe: it treats a Git
// repository of goose migrations as the source of truth, predicts the risk of
// each change, canaries it on part of the fleet, judges the KPIs with a
// statistical test, and rolls back or promotes.
//
// This package only parses flags and configuration and calls the packages
// that do the work (gitsrc, analysis, rollout, reconciler).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, ee.msg)
		}
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "schemacanary:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a specific status after the command has
// printed its own output (e.g. 1 for lint findings, 3 for a rollback).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d: %s", e.code, e.msg) }
