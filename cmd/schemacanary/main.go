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
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses, the same for every command: 0 success; 1 the command's
// answer is "no" (lint or verify found hazards, a confidence below
// --fail-below, a rollout that did not promote, nothing found); 2 the
// command could not do its work (usage, configuration, I/O, connection).
const (
	statusOK       = 0
	statusFindings = 1
	statusError    = 2
)

// run executes the command line args and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var ee *exitError
	switch {
	case err == nil:
		return statusOK
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(stderr, ee.msg)
		}
		return ee.code
	default:
		fmt.Fprintln(stderr, "schemacanary:", err)
		return statusError
	}
}

// exitError ends the program with a specific status after the command has
// printed its own output (statusFindings for lint findings or a rollback).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d: %s", e.code, e.msg) }
