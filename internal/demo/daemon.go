package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/internal/app"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/store"
	"github.com/schemacanary/schemacanary/reconciler/web"
)

// runningDaemon is the reconciler daemon the demo runs in-process, built
// from a generated config by app.Build exactly as `schemacanary run`
// builds it.
type runningDaemon struct {
	d      *app.Daemon
	status web.StatusSource
	url    string
	cancel context.CancelFunc
	done   chan error
}

// startDaemon writes the demo config, builds the daemon and runs it until
// stop.
func startDaemon(ctx context.Context, e *environment) (*runningDaemon, error) {
	if err := writeControlDSN(e.dir, e.clusters.ControlDSN); err != nil {
		return nil, err
	}
	threshold := model.DefaultThreshold
	e.p.line("prediction.threshold %.2f (the default), the bootstrap model: each change is assessed when it reaches the head of the queue", threshold)
	path, err := writeConfig(e.dir, configData{RepoURL: e.repo.URL(), Fleet: e.clusters.Fleet, T: e.opts.Timing,
		Threshold: threshold, Model: e.opts.Model, AlertURL: e.alerts.url})
	if err != nil {
		return nil, err
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	red := &secret.Redactor{}
	d, err := app.Build(ctx, cfg, e.opts.Log, red)
	if err != nil {
		return nil, fmt.Errorf("demo: start the daemon: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &runningDaemon{d: d, status: store.NewStatus(d.Store), cancel: cancel, done: make(chan error, 1),
		url: "http://" + d.Server.Addr() + "/"}
	go func() { r.done <- d.Run(runCtx) }()
	return r, nil
}

// approve records an approval through the code path of `schemacanary
// approve VERSION --by NAME` (reconciler.Approve), then asks for a pass at
// once rather than waiting for the next poll.
func (r *runningDaemon) approve(ctx context.Context, version int64, by string) error {
	if _, err := reconciler.Approve(ctx, r.d.Store, version, by); err != nil {
		return err
	}
	r.d.Trigger()
	return nil
}

// skip releases the queue held by a rolled-back change through the code
// path of `schemacanary skip VERSION --by NAME` (reconciler.Skip).
func (r *runningDaemon) skip(ctx context.Context, version int64, by string) error {
	if _, err := reconciler.Skip(ctx, r.d.Store, version, by); err != nil {
		return err
	}
	r.d.Trigger()
	return nil
}

// stop stops the daemon and releases what it opened.
func (r *runningDaemon) stop() error {
	r.cancel()
	var err error
	select {
	case err = <-r.done:
	case <-time.After(30 * time.Second):
		err = errors.New("demo: the daemon did not stop within 30s")
	}
	r.d.Close()
	return err
}

// assessmentLines summarizes what the stored assessment of change version
// saw on the live canary before it was touched: the statements it breaks,
// the plan changes the planner estimates, and the strongest reasons.
func (r *runningDaemon) assessmentLines(ctx context.Context, version int64) []string {
	c, err := r.d.Store.Get(ctx, version)
	if err != nil {
		return nil
	}
	a, err := r.d.Store.Assessment(ctx, version, c.SHA256)
	if err != nil {
		return nil
	}
	var out []string
	if live := a.Report.Live; live != nil {
		for _, b := range live.Broken {
			out = append(out, fmt.Sprintf("breaks a statement run %.1f/s: %s", b.CallsPerSec, b.Why))
		}
		for _, pc := range live.PlanChanges {
			out = append(out, fmt.Sprintf("plan change, %.1f calls/s: cost %.0f -> %.0f (%.0fx): %s", pc.CallsPerSec, pc.CostBefore, pc.CostAfter, pc.Ratio, oneLine(pc.Query, 70)))
		}
		if live.PlanCheck == analysis.CheckNotRun && live.PlanNote != "" {
			out = append(out, "plans not compared: "+live.PlanNote)
		}
	}
	for i, rs := range a.Prediction.Reasons {
		if i == 2 {
			break
		}
		out = append(out, fmt.Sprintf("reason %+.2f: %s", rs.Contribution, rs.Text))
	}
	return out
}

// oneLine squeezes s onto one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
