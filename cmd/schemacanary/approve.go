package main

import (
	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/reconciler"
)

func newApproveCmd(g *globalFlags) *cobra.Command {
	var cfgPath, by string
	cmd := &cobra.Command{
		Use:   "approve VERSION --by NAME",
		Short: "Approve a change whose predicted confidence is below the threshold",
		Long: `approve records, in the control store, that NAME lets migration VERSION roll out
although its predicted confidence is below prediction.threshold. The leader picks it
up on its next poll: awaiting_approval → approved → canary. The approval is audited
on the schemacanary-audit branch with NAME as the actor.

An approval names what it approves: the migration file's SHA-256 and the merge
commit the control store holds for the change now. If the file is later edited
or merged again under the same version, the approval no longer applies and the
change waits again.

Only a change in awaiting_approval can be approved; approving ahead of a merge
or a change in any other state is refused (exit 1) and records nothing.
Recording needs the control store's credentials (control.dsn), so whoever can
run this command can write to the control store: grant it like a database
role. Besides NAME, the operating-system user and host the command ran from
are recorded.

With the GitHub forge, approvals are usually given by commenting
"/schemacanary approve" on the PR (write or admin permission required, given
after the PR's last push); this command works with either forge.`,
		Example: `  schemacanary approve 42 --by alice -c schemacanary.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operatorAction(cmd, g, cfgPath, args[0], "approval", by, reconciler.Approve)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "schemacanary.yaml", "configuration file")
	cmd.Flags().StringVar(&by, "by", "", "who approves (required; recorded in the audit)")
	_ = cmd.MarkFlagRequired("by") // fails only for a flag not defined just above
	return cmd
}
