package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/internal/app"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
)

// operatorAction records an operator's decision (approve, skip) on change
// VERSION in the control store named by the configuration file, and prints
// what was recorded. noun names the decision in the output ("approval").
func operatorAction(cmd *cobra.Command, g *globalFlags, cfgPath, arg, noun, by string,
	act func(context.Context, reconciler.Operations, int64, string) (change.State, error)) error {
	return withControlStore(cmd, g, cfgPath, arg, func(_ *app.Config, s *store.Store, v int64) error {
		st, err := act(cmd.Context(), s, v, by)
		if err != nil {
			return err
		}
		if st == "" {
			cmd.Printf("%s of %d by %s recorded; it applies once the change is merged\n", noun, v, by)
		} else {
			cmd.Printf("%s of %d by %s recorded (change is %s)\n", noun, v, by, st)
		}
		return nil
	})
}

// withControlStore parses VERSION arg, loads the configuration file, opens
// the control store it names and runs fn on them; fn's error is redacted
// (a DSN never reaches the terminal). The operator commands share it.
func withControlStore(cmd *cobra.Command, g *globalFlags, cfgPath, arg string, fn func(cfg *app.Config, s *store.Store, version int64) error) error {
	v, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || v <= 0 {
		return &exitError{code: statusError, msg: fmt.Sprintf("VERSION %q: a positive integer", arg)}
	}
	cfg, err := app.LoadConfig(cfgPath)
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	red := &secret.Redactor{}
	log := slog.New(secret.NewRedactingHandler(g.logger(cmd.ErrOrStderr()).Handler(), red))
	s, err := app.OpenControl(cmd.Context(), cfg, red, log)
	if err != nil {
		return err
	}
	defer s.Close()
	return red.Err(fn(cfg, s, v))
}
