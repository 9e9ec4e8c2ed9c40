package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schemacanary/schemacanary/internal/app"
	"github.com/schemacanary/schemacanary/rollout/kpi"

	"github.com/schemacanary/schemacanary/rollout/judge"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/rollout"
)

type rolloutFlags struct {
	config string
	dryRun bool
	format string
}

func newRolloutCmd(g *globalFlags) *cobra.Command {
	var f rolloutFlags
	cmd := &cobra.Command{
		Use:   "rollout FILE -c schemacanary.yaml [--dry-run]",
		Short: "Take one goose migration through canary, judge, and promotion or rollback",
		Long: `rollout applies one goose migration file to the fleet in the config, without Git:

  1. baseline: KPIs are sampled on the canary wave for canary.baseline;
  2. canary: the Up section is applied to the canary wave with goose, lock-safely:
     before each attempt it waits (without queueing) while a transaction older than
     canary.long_transaction holds or awaits a conflicting lock on the touched tables,
     then tries under canary.lock_timeout (default 100ms), retrying with backoff;
  3. bake: every canary.interval the KPIs of canary and control are sampled and the
     judge compares canary vs control and vs its own baseline (one-sided
     Mann-Whitney U with an effect-size floor; proportion tests for error rates);
  4. a Fail (or a hard guard: migration error, error-rate spike) rolls the canary
     back: in one transaction the touched tables are fenced against writes, every
     column or table the Down drops is copied into schema schemacanary_archive, the
     Down runs and goose's version row goes; then sessions are reset;
  5. a Pass after canary.bake promotes the change wave by wave (fleet.waves), each
     wave baked and judged in turn.

Before any wave's apply, every target of it is checked read-only (pre-flight): its
goose table is at the version the canary was at before the change, the touched
tables have the canary's pre-change definition (drift is printed as a diff naming
the object), and the data checks of the prediction gate (duplicates for UNIQUE,
NULLs for SET NOT NULL, CHECK/FK violations, values a narrowed type cannot hold)
pass on that target's own rows. A failing or unreachable target stops the wave with
nothing of it applied.

Progress (wave, instance, step, verdicts with p-values) goes to stdout, logs to
stderr. --dry-run prints the plan (waves, control, lock settings, what a rollback
would archive, which instances already hold the version and where each comes from:
fleet.instances, the inventory row, the target file) and changes nothing.

Exit status: 0 promoted; 1 not promoted (rolled back, held inconclusive, a lock
timeout, a failed pre-flight, or a partial rollout, whose message lists which
instance holds the version); 2 usage, configuration or connection error.`,
		Example: `  schemacanary rollout migrations/0042_add_note.sql -c schemacanary.yaml --dry-run
  schemacanary rollout migrations/0042_add_note.sql -c schemacanary.yaml
  schemacanary rollout migrations/0042_add_note.sql -c schemacanary.yaml --format json > result.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRollout(cmd, g, f, args[0])
		},
	}
	cmd.Flags().StringVarP(&f.config, "config", "c", "schemacanary.yaml", "config file (fleet, canary and rollback sections are used)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().StringVar(&f.format, "format", "text", "output: text (progress and summary) or json (the final result only)")
	return cmd
}

func runRollout(cmd *cobra.Command, g *globalFlags, f rolloutFlags, path string) error {
	if f.format != "text" && f.format != "json" {
		return &exitError{code: statusError, msg: fmt.Sprintf("--format %q: want text or json", f.format)}
	}
	cfg, err := app.LoadConfig(f.config)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	mig, err := migration.ParseMigration(path, src)
	if err != nil {
		return err
	}
	rep, err := analysis.Analyze(cmd.Context(), *mig)
	if err != nil {
		return fmt.Errorf("analyze %s: %w", path, err)
	}
	ch := reconciler.PlanChange(mig, rep)
	if err := ch.Validate(); err != nil {
		return err
	}
	fleet, err := cfg.Fleet.ResolveContext(cmd.Context(), nil)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	log := g.logger(cmd.ErrOrStderr())
	if f.dryRun {
		applier, err := rollout.NewApplier(cfg.Canary, rollout.WithLogger(log))
		if err != nil {
			return err
		}
		defer applier.Close()
		return printPlan(cmd, out, applier, fleet, ch, cfg)
	}
	sources, err := kpi.NewSources(cfg.Canary.KPIs, nil)
	if err != nil {
		return err
	}
	defer sources.Close()
	pr := &progress{w: out, quiet: f.format == "json"}
	canary, err := rollout.NewCanary(cfg.Canary, cfg.Rollback, rollout.WithLogger(log),
		rollout.WithSources(sources.List()...), rollout.WithObserver(pr.event),
		rollout.WithDataChecker(reconciler.DataChecks{Timeout: cfg.Prediction.CheckTimeout.D()}))
	if err != nil {
		return err
	}
	defer canary.Close()
	res, runErr := canary.Run(cmd.Context(), fleet, ch, nil)
	if res != nil {
		if f.format == "json" {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			if err := enc.Encode(res); err != nil {
				return err
			}
		} else {
			printSummary(out, res)
		}
	}
	switch {
	case runErr != nil && errors.Is(runErr, rollout.ErrPreflight):
		// A wave stopped before its apply (drift, data, version, or an
		// unreachable target): not promoted, and nothing of it touched.
		return &exitError{code: statusFindings, msg: runErr.Error()}
	case runErr != nil && errors.Is(runErr, rollout.ErrLockTimeout):
		// The change did not go through: an outcome, not a failure to run.
		return &exitError{code: statusFindings, msg: runErr.Error()}
	case runErr != nil:
		return runErr
	case res.Status == rollout.StatusPromoted:
		return nil
	}
	return &exitError{code: statusFindings, msg: fmt.Sprintf("rollout ended %s: %s", res.Status, res.Reason)}
}

// progress prints events as they come (from several goroutines).
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool
}

func (p *progress) event(e rollout.Event) {
	if p.quiet || e.Step == rollout.StepBake && e.Err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	where := "fleet"
	if e.Wave >= 0 {
		where = fmt.Sprintf("wave %d %s", e.Wave, e.WaveName)
	}
	if e.Instance != "" {
		where += " " + e.Instance
	}
	line := fmt.Sprintf("%s [%s] %-11s", e.Time.Format("15:04:05.000"), where, e.Step)
	if e.Attempt > 0 {
		line += fmt.Sprintf(" #%d", e.Attempt)
	}
	if e.Duration > 0 {
		line += " (" + e.Duration.Round(time.Millisecond).String() + ")"
	}
	line += " " + e.Message
	if e.Err != nil {
		line += ": " + e.Err.Error()
	}
	fmt.Fprintln(p.w, line)
	if e.Decision != nil && e.Decision.Outcome != judge.Extend {
		for _, v := range e.Decision.Verdicts {
			fmt.Fprintln(p.w, "      "+v.String())
		}
	}
}

func printSummary(w io.Writer, res *rollout.Result) {
	fmt.Fprintf(w, "\nversion %d: %s after %s: %s\n", res.Version, strings.ToUpper(string(res.Status)),
		res.Finished.Sub(res.Started).Round(time.Millisecond), res.Reason)
	if res.TimeToRollback > 0 {
		fmt.Fprintf(w, "apply → rollback complete: %s (%d judged interval(s))\n", res.TimeToRollback.Round(time.Millisecond), res.Judgements)
	}
	if res.Decision != nil {
		fmt.Fprintf(w, "judge: %s: %s\n", res.Decision.Outcome, res.Decision.Reason)
		for _, v := range res.Decision.Verdicts {
			fmt.Fprintln(w, "  "+v.String())
		}
	}
	fmt.Fprintln(w, "instances:")
	for _, in := range res.Instances {
		state := "without the change"
		if in.Applied {
			state = "holds the change"
		}
		extra := ""
		if in.Control {
			extra += " (control)"
		}
		if in.Rollback != nil && !in.Rollback.AlreadyDone {
			extra += fmt.Sprintf(" rolled back, fence %s", in.Rollback.Fence)
			for _, a := range in.Rollback.Archived {
				extra += fmt.Sprintf(", archived %d row(s) of %s into %s", a.Rows, a.Source, a.Table)
			}
		}
		if in.Error != "" {
			extra += " error: " + in.Error
		}
		fmt.Fprintf(w, "  wave %d %-20s %s%s\n", in.Wave, in.Name, state, extra)
	}
}

func printPlan(cmd *cobra.Command, w io.Writer, a *rollout.Applier, fleet *rollout.Fleet, ch *rollout.Plan, cfg *app.Config) error {
	waves, control, err := fleet.Plan()
	if err != nil {
		return err
	}
	c, rb := cfg.Canary, cfg.Rollback
	fmt.Fprintf(w, "change %s (version %d)\n", ch.Filename(), ch.Version)
	fmt.Fprintf(w, "  tables: %s; up lock: %s; down lock: %s; no transaction: %v\n",
		orNone(strings.Join(ch.Tables, ", ")), orNone(ch.Lock), orNone(ch.DownLock), ch.NoTransaction)
	bake := c.Bake
	if ch.Bake > 0 {
		bake = ch.Bake
	}
	fmt.Fprintf(w, "apply: lock_timeout %s, statement_timeout %s, %d retries (backoff %s..%s with jitter), wait for transactions older than %s (at most %s)\n",
		c.LockTimeout, c.StatementTimeout, c.Retries, c.Backoff, c.MaxBackoff, c.LongTransaction, c.MaxWait)
	fmt.Fprintf(w, "canary: baseline %s, bake %s (max %s), interval %s\n", c.Baseline, bake, max(c.MaxBake, bake), c.Interval)
	fmt.Fprintf(w, "waves:\n")
	for _, wv := range waves {
		var names []string
		for _, in := range wv.Instances {
			names = append(names, in.Name)
		}
		fmt.Fprintf(w, "  %d %-8s %d instance(s), %d at a time: %s\n", wv.Index, wv.Name, len(wv.Instances), wv.Concurrency, strings.Join(names, ", "))
	}
	var cn []string
	for _, in := range control {
		cn = append(cn, in.Name)
	}
	fmt.Fprintf(w, "control: %s\n", orNone(strings.Join(cn, ", ")))
	fmt.Fprintf(w, "rollback: fence %s, restart %s, lock_timeout %s\n", rb.Fence, rb.Restart, rb.LockTimeout)
	switch {
	case ch.AllowDataLoss:
		fmt.Fprintln(w, "  archive: nothing (allow_data_loss: true)")
	case len(ch.Archive) == 0:
		fmt.Fprintln(w, "  archive: nothing (the Down section drops no column or table)")
	default:
		for _, t := range ch.Archive {
			what := "primary key + column " + t.Column
			if t.Column == "" {
				what = "every row"
			}
			fmt.Fprintf(w, "  archive: %s (%s) into %s.%s__v%d\n", t, what, rollout.ArchiveSchema, t.Table, ch.Version)
		}
	}
	fmt.Fprintln(w, "current state (goose tables):")
	for _, in := range fleet.Instances {
		ok, err := a.Applied(cmd.Context(), in, ch.Version)
		state := map[bool]string{true: "holds the version", false: "does not hold it"}[ok]
		if err != nil {
			state = "unreachable: " + err.Error()
		}
		fmt.Fprintf(w, "  %-20s %s (from %s)\n", in.Name, state, in.Source)
	}
	fmt.Fprintln(w, "dry run: nothing changed")
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
