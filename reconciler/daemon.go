package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/schemacanary/schemacanary/reconciler/notify"
)

// Daemon is `schemacanary run`: every replica serves HTTP and competes for
// leadership; the leader runs the cron schedules (poll, retrain,
// retention) and one worker that serializes reconcile passes and retrains.
// Webhooks and outcomes trigger a poll or a retrain at once.
type Daemon struct {
	Config    *Config
	Store     *Store
	Reconcile *Reconciler
	Leader    *Leader
	Server    *Server
	Metrics   *Metrics
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

// Run serves HTTP and leads when elected, until ctx ends.
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
	if d.Alerts != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Alerts.Run(ctx) }() // flushes for a few seconds after ctx ends
	}
	lerr := d.Leader.Run(ctx, d.lead)
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

// Close releases the resources Build opened.
func (d *Daemon) Close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// pollTimeout bounds one RunOnce pass in tests and tools.
const pollTimeout = 10 * time.Minute
