package main

import (
	"os/user"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/reconciler"
)

func newSkipCmd(g *globalFlags) *cobra.Command {
	var cfgPath, by string
	cmd := &cobra.Command{
		Use:   "skip VERSION",
		Short: "Release the queue held by a rolled back, failed or inconclusive change",
		Long: `skip records that an operator gives up on migration VERSION. A rolled back or
failed change holds the queue (later migrations wait) until its revert merges or it
is skipped; on its next poll the leader moves it to skipped and goes on with the
next version. A change held after an inconclusive canary is rolled back from the
canary first, then skipped. A change that is rolling out or rolling back cannot be
skipped.
Skipping does not touch any database: whatever a failed change left on an instance
(see /api/changes/VERSION for each instance's state) is for you to fix.`,
		Example: `  schemacanary skip 42 -c schemacanary.yaml
  schemacanary skip 42 --by bob -c schemacanary.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if by == "" {
				by = "operator"
				if u, err := user.Current(); err == nil {
					by = u.Username
				}
			}
			return operatorAction(cmd, g, cfgPath, args[0], "skip", by, reconciler.Skip)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "schemacanary.yaml", "configuration file")
	cmd.Flags().StringVar(&by, "by", "", "who skips (default: the OS user)")
	return cmd
}
