package main

import (
	"fmt"
	"log/slog"
	"strconv"

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

With the GitHub forge, approvals are usually given by commenting
"/schemacanary approve" on the PR (write or admin permission required); this
command works with either forge. A version not yet discovered may be approved
ahead of its merge.`,
		Example: `  schemacanary approve 42 --by alice -c schemacanary.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || v <= 0 {
				return &exitError{code: 2, msg: fmt.Sprintf("VERSION %q: a positive integer", args[0])}
			}
			cfg, err := reconciler.LoadConfig(cfgPath)
			if err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			red := &reconciler.Redactor{}
			log := slog.New(reconciler.NewRedactingHandler(g.logger(cmd.ErrOrStderr()).Handler(), red))
			s, err := reconciler.OpenControl(cmd.Context(), cfg, red, log)
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := reconciler.Approve(cmd.Context(), s, v, by)
			if err != nil {
				return red.Err(err)
			}
			if st == "" {
				cmd.Printf("approval of %d by %s recorded; it applies once the change is merged\n", v, by)
			} else {
				cmd.Printf("approval of %d by %s recorded (change is %s)\n", v, by, st)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "schemacanary.yaml", "configuration file")
	cmd.Flags().StringVar(&by, "by", "", "who approves (required; recorded in the audit)")
	_ = cmd.MarkFlagRequired("by")
	return cmd
}
