package main

import (
	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/internal/app"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
)

// controlHelp is what every rollout command's help ends with.
const controlHelp = `

The command is recorded in the control store named by the configuration file, with
who (--by) and why (--why), both required; the leader's running rollout reads the
commands at every judged bake interval (canary.interval) and before every wave, and
each one is written to the audit branch as a commit with who and why. A command that
makes no sense now (unknown version, a change in a state it does not apply to, an
unknown target, a resume without a pause, anything after an abort) is refused with
exit status 2 and nothing is recorded. The same commands are on the HTTP API:
POST /api/changes/VERSION/COMMAND (see docs/operations.md).`

// controlSpec describes one rollout command of the CLI.
type controlSpec struct {
	cmd     change.Command
	use     string
	short   string
	long    string
	example string
	target  bool
}

var controlSpecs = []controlSpec{
	{cmd: change.CommandPause, use: "pause VERSION --by NAME --why TEXT", short: "Hold a rollout: no new wave starts, a bake does not promote",
		long: `pause holds the rollout of migration VERSION. No wave is sampled or applied after it;
a bake in progress goes on sampling and judging, and a Fail still rolls back, but a Pass
does not promote and max_bake does not end it: the change waits, on the instances that
hold it, for "schemacanary resume". A change that is approved but not yet started is
paused before its canary. Nothing is rolled back.`,
		example: `  schemacanary pause 42 --by alice --why "black friday freeze" -c schemacanary.yaml`},
	{cmd: change.CommandResume, use: "resume VERSION --by NAME --why TEXT", short: "Lift a pause",
		long: `resume lifts the pause of migration VERSION's rollout: the bake ends as the judge
decides, and the next wave starts.`,
		example: `  schemacanary resume 42 --by alice --why "freeze over" -c schemacanary.yaml`},
	{cmd: change.CommandAbort, use: "abort VERSION --by NAME --why TEXT", short: "Roll back every instance a rollout touched",
		long: `abort stops the rollout of migration VERSION and rolls back every instance that holds
it, newest wave first, through the rollback path (fence, archive of what Down drops,
goose down, session reset, unfence): nothing written to the change's columns is lost.
The change ends rolled_back with the reason "aborted by NAME: TEXT" and, like any
rolled back change, holds the queue until its revert merges or it is skipped. A change
held inconclusive on its canary is rolled back the same way. It applies to a change
in canary, baking, promoting or inconclusive.`,
		example: `  schemacanary abort 42 --by alice --why "checkout errors since the canary" -c schemacanary.yaml`},
	{cmd: change.CommandPromoteNow, use: "promote-now VERSION --by NAME --why TEXT", short: "End the current bake early, with the judge's verdict so far",
		long: `promote-now ends the bake of the wave migration VERSION is in (the canary's, or a
later wave's) at its next judged interval, with the judge's verdict on the data so far:
a Fail still rolls back (or acts as canary.on_wave_failure says), a Pass or not enough
data promotes. It applies to that wave only: the next waves bake as configured. Not to
be confused with "schemacanary promote", which releases a change held inconclusive
after its bake ended. It applies to a change that is baking or promoting; a paused
bake is not cut short until it is resumed.`,
		example: `  schemacanary promote-now 42 --by alice --why "release train leaves at 14:00" -c schemacanary.yaml`},
	{cmd: change.CommandExclude, use: "exclude VERSION TARGET --by NAME --why TEXT", target: true, short: "Take a fleet instance out of a rollout",
		long: `exclude takes instance TARGET (a fleet.instances name) out of migration VERSION's
rollout: every wave applied after it skips TARGET, which is never touched and is
reported as excluded (the change is done without it). An instance that already holds
the change keeps it. "schemacanary include" puts it back before its wave starts.`,
		example: `  schemacanary exclude 42 eu-orders-3 --by alice --why "customer migration window" -c schemacanary.yaml`},
	{cmd: change.CommandInclude, use: "include VERSION TARGET --by NAME --why TEXT", target: true, short: "Put an excluded instance back into a rollout",
		long: `include lifts the exclusion of instance TARGET from migration VERSION's rollout: its
wave applies the change to it if that wave has not started yet (an instance whose wave
went by while it was excluded stays without the change).`,
		example: `  schemacanary include 42 eu-orders-3 --by alice --why "window over" -c schemacanary.yaml`},
	{cmd: change.CommandRevert, use: "revert VERSION --by NAME --why TEXT", short: "Roll a completed change back everywhere and open its revert PR",
		long: `revert takes migration VERSION, done on the whole fleet, back everywhere: the leader
moves it to rolling_back and rolls it back on every instance that holds it, newest wave
first, through the rollback path (fence, archive of what Down drops into schema
schemacanary_archive, goose down, session reset, unfence): nothing written to what the
change added is lost. The change ends rolled_back and its revert PR is opened, so Git
again says what the fleet runs; like any rolled back change it holds the queue until
that revert merges or it is skipped.

It is accepted within rollback.revert_window (default 30m) after the change was done,
and only while no later change has started (a later change on its canary or beyond
may build on this one: revert that one first). Past the window, undo the change with a
new migration.`,
		example: `  schemacanary revert 42 --by alice --why "p99 of checkout doubled since 42" -c schemacanary.yaml`},
}

// newControlCmds returns the rollout commands (pause, resume, abort,
// promote-now, exclude, include, revert).
func newControlCmds(g *globalFlags) []*cobra.Command {
	out := make([]*cobra.Command, 0, len(controlSpecs))
	for _, sp := range controlSpecs {
		out = append(out, newControlCmd(g, sp))
	}
	return out
}

func newControlCmd(g *globalFlags, sp controlSpec) *cobra.Command {
	var cfgPath, by, why string
	nargs := 1
	if sp.target {
		nargs = 2
	}
	cmd := &cobra.Command{
		Use:     sp.use,
		Short:   sp.short,
		Long:    sp.long + controlHelp,
		Example: sp.example,
		Args:    cobra.ExactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := change.OperatorAction{Command: sp.cmd, By: by, Why: why, Source: "cli"}
			if sp.target {
				a.Target = args[1]
			}
			return controlAction(cmd, g, cfgPath, args[0], a)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "schemacanary.yaml", "configuration file")
	cmd.Flags().StringVar(&by, "by", "", "who gives the command (required; recorded in the audit)")
	cmd.Flags().StringVar(&why, "why", "", "why (required; recorded in the audit)")
	_ = cmd.MarkFlagRequired("by")  // fails only for a flag not defined just above
	_ = cmd.MarkFlagRequired("why") // likewise
	return cmd
}

// controlAction records a for change VERSION arg in the control store
// named by the configuration file and prints what was recorded.
func controlAction(cmd *cobra.Command, g *globalFlags, cfgPath, arg string, a change.OperatorAction) error {
	return withControlStore(cmd, g, cfgPath, arg, func(cfg *app.Config, s *store.Store, v int64) error {
		a.Version = v
		st, rec, err := app.NewCommander(s, cfg).Command(cmd.Context(), a)
		if err != nil {
			return err
		}
		what := string(rec.Command)
		if rec.Target != "" {
			what += " " + rec.Target
		}
		cmd.Printf("%s of %d by %s recorded (change is %s; action %d): the leader acts on it within canary.interval\n", what, v, rec.By, st, rec.ID)
		return nil
	})
}
