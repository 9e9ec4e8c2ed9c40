package main

import (
	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/reconciler"
)

func newPromoteCmd(g *globalFlags) *cobra.Command {
	var cfgPath, by string
	cmd := &cobra.Command{
		Use:   "promote VERSION --by NAME",
		Short: "Promote a change held after an inconclusive canary",
		Long: `promote records, in the control store, that NAME lets migration VERSION go on to the
rest of the fleet after its canary was inconclusive: the bake reached canary.max_bake
without enough data to judge (typically an idle fleet: no traffic is no evidence of
harm, and no evidence of safety either). With canary.on_inconclusive: hold, the
default, such a change stays on the canary wave, holding the queue, until a human
decides. The leader picks the promotion up on its next poll: inconclusive →
promoting → done. To roll the canary back instead: schemacanary skip VERSION.

Only a change that is inconclusive now can be promoted. To end a bake that is still
running, with the judge's verdict so far, use schemacanary promote-now.`,
		Example: `  schemacanary promote 42 --by alice -c schemacanary.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operatorAction(cmd, g, cfgPath, args[0], "promotion", by, reconciler.Promote)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "schemacanary.yaml", "configuration file")
	cmd.Flags().StringVar(&by, "by", "", "who promotes (required; recorded in the audit)")
	_ = cmd.MarkFlagRequired("by") // fails only for a flag not defined just above
	return cmd
}
