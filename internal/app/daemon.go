package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/notify"
	"github.com/schemacanary/schemacanary/reconciler/store"
	"github.com/schemacanary/schemacanary/reconciler/web"
)

// Daemon is `schemacanary run`: every replica serves HTTP and competes for
// leadership; the leader runs the cron schedules (poll, retrain,
// retention) and one worker that serializes reconcile passes and retrains.
// Webhooks and outcomes trigger a poll or a retrain at once.
type Daemon struct {
	Config    *Config
	Store     *store.Store
	Reconcile *reconciler.Reconciler
	Leader    *Leader
	Server    *web.Server
	Metrics   *reconciler.Metrics
	Retrainer *Retrainer
	Log       *slog.Logger
	// Alerts delivers the pipeline's events to alerts.webhooks; nil
	// without webhooks. Run runs it.
	Alerts *notify.Dispatcher

	// closers release what Build opened, in reverse order.
	closers []func()

	poll    chan struct{}
	retrain chan struct{}
	once    sync.Once
}

func (d *Daemon) init() {
	d.once.Do(func() {
		d.poll = make(chan struct{}, 1)
		d.retrain = make(chan struct{}, 1)
	})
}

// Trigger asks for a reconcile pass as soon as the worker is free; triggers
// coalesce. Safe for concurrent use (the webhook calls it).
func (d *Daemon) Trigger() {
	d.init()
	select {
	case d.poll <- struct{}{}:
	default:
	}
}

// TriggerRetrain asks for a retrain (after every outcome).
func (d *Daemon) TriggerRetrain() {
	d.init()
	select {
	case d.retrain <- struct{}{}:
	default:
	}
}

// StopGrace is how long Run waits, once its context ends (SIGTERM), for the
// step in progress to stop. Every step stops at a cancel (the analysis, an
// apply or rollback statement, which is cancelled on the server, a bake);
// one that does not within StopGrace is abandoned, as a killed process
// would abandon it: every transition is persisted before its side effect
// and every side effect is idempotent, so the next leader resumes it.
const StopGrace = 4 * time.Second

// closeGrace bounds Close: a connection pool waits for its connections, and
// an abandoned step may still hold one.
const closeGrace = 3 * time.Second

// Run serves HTTP and leads when elected, until ctx ends; then it returns
// within StopGrace plus the HTTP server's shutdown or the alerts' flush (5 s
// at most).
func (d *Daemon) Run(ctx context.Context) error {
	d.init()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	if d.Server != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Server.Serve(ctx); err != nil {
				errc <- fmt.Errorf("http: %w", err)
			}
		}()
	}
	// Alerts outlive the leader's step in progress: what it raises while it
	// stops is still sent (flushed for a few seconds after stopAlerts).
	alertsCtx, stopAlerts := context.WithCancel(context.WithoutCancel(ctx))
	if d.Alerts != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Alerts.Run(alertsCtx) }()
	}
	lerr := d.runLeader(ctx)
	stopAlerts()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	if errors.Is(lerr, context.Canceled) {
		return nil
	}
	return lerr
}

// runLeader runs the leader election and, while leading, the worker; once
// ctx ends it waits at most StopGrace for them.
func (d *Daemon) runLeader(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- d.Leader.Run(ctx, d.lead) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	t := time.NewTimer(StopGrace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		d.Log.Error("stopping without waiting for the step in progress: it did not stop within the grace period; the next leader resumes it",
			"grace", StopGrace)
		return ctx.Err()
	}
}

// lead runs the schedules and the worker while this replica leads; ctx is
// canceled the moment leadership is lost.
func (d *Daemon) lead(ctx context.Context) {
	c := cron.New(cron.WithParser(cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)))
	sch := d.Config.Schedules
	if _, err := c.AddFunc(sch.Poll, d.Trigger); err != nil {
		d.Log.Error("schedule poll", "spec", sch.Poll, "err", err)
	}
	if _, err := c.AddFunc(sch.Retrain, d.TriggerRetrain); err != nil {
		d.Log.Error("schedule retrain", "spec", sch.Retrain, "err", err)
	}
	if _, err := c.AddFunc(sch.Retention, func() { d.prune(ctx) }); err != nil {
		d.Log.Error("schedule retention", "spec", sch.Retention, "err", err)
	}
	c.Start()
	defer func() { <-c.Stop().Done() }()
	d.Trigger()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.poll:
			_, _ = d.Reconcile.Reconcile(ctx) // the pass logs and records its own outcome
		case <-d.retrain:
			if d.Retrainer != nil {
				if _, err := d.Retrainer.Retrain(ctx); err != nil && ctx.Err() == nil {
					d.Log.Warn("retrain failed", "err", err)
				}
			}
		}
	}
}

func (d *Daemon) prune(ctx context.Context) {
	cc := d.Config.Control
	n, err := d.Store.PruneKPISamples(ctx, cc.KPIRetention.D(), cc.KPIMaxRows)
	if err != nil {
		d.Log.Warn("prune KPI samples", "err", err)
		return
	}
	if n > 0 {
		d.Log.Info("KPI samples pruned", "deleted", n)
	}
}

// Close releases the resources Build opened, in reverse order, waiting at
// most closeGrace: after an abandoned step (see StopGrace) a pool may wait
// for a connection that is never returned; the process exit closes it.
func (d *Daemon) Close() {
	closers := d.closers
	d.closers = nil
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		if d.Log != nil {
			d.Log.Warn("resources not released within the grace period; leaving them to the process exit", "grace", closeGrace)
		}
	}
}

// pollTimeout bounds one RunOnce pass in tests and tools.
const pollTimeout = 10 * time.Minute
