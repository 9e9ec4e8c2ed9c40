package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrRunning is returned by Run when the Dispatcher already runs (or ran).
var ErrRunning = errors.New("notify: dispatcher already started")

// Dispatcher delivers events to its sinks. Notify is safe for concurrent use
// and never blocks; Run does the deliveries. Events notified before Run wait
// in the queues (bounded: the oldest are dropped). A nil *Dispatcher drops
// every event.
type Dispatcher struct {
	o       options
	m       *metrics
	workers []*worker
	started atomic.Bool
}

// New validates the sinks (defaults filled in) and returns a Dispatcher
// that sends to them once Run is called. Sink names must be unique.
func New(sinks []Sink, opts ...Option) (*Dispatcher, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
	}
	d := &Dispatcher{o: o, m: newMetrics()}
	var errs []error
	seen := map[string]bool{}
	for _, s := range sinks {
		s = s.withDefaults()
		if err := s.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("sink %q: name used twice", s.Name))
			continue
		}
		seen[s.Name] = true
		d.m.init(s.Name)
		d.workers = append(d.workers, &worker{sink: s, q: newQueue(s.QueueSize), d: d})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	if o.reg != nil {
		if err := d.m.register(o.reg); err != nil {
			return nil, fmt.Errorf("notify: metrics: %w", err)
		}
	}
	return d, nil
}

// Notify queues e for every sink that wants its kind and returns at once.
// It fills e.Link from WithStatusURL when empty. A full queue drops its
// oldest event (counted in schemacanary_alerts_dropped_total and logged).
func (d *Dispatcher) Notify(e Event) {
	if d == nil {
		return
	}
	if e.Link == "" && d.o.statusURL != "" {
		e.Link = strings.TrimSuffix(d.o.statusURL, "/") + "/changes/" + strconv.FormatInt(e.Version, 10)
	}
	for _, w := range d.workers {
		if !w.sink.wants(e.Kind) {
			continue
		}
		dropped, n := w.q.push(e)
		d.m.queued.WithLabelValues(w.sink.Name).Set(float64(n))
		if dropped != nil {
			d.m.dropped.WithLabelValues(w.sink.Name, dropQueueFull).Inc()
			d.o.log.Warn("alert queue full; oldest alert dropped", "sink", w.sink.Name, "queue", w.sink.QueueSize,
				"dropped_event", dropped.Kind, "dropped_change", dropped.Version, "dropped_id", dropped.ID)
		}
	}
}

// Run delivers queued events, one goroutine per sink, until ctx ends; then
// it keeps delivering what is queued for the flush timeout
// (WithFlushTimeout), drops and counts the rest, and returns nil. It may be
// called once; a second call returns ErrRunning.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d == nil {
		<-ctx.Done()
		return nil
	}
	if !d.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	send, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx, send)
		}()
	}
	<-ctx.Done()
	stop := time.AfterFunc(d.o.flush, cancel)
	defer stop.Stop()
	wg.Wait()
	return nil
}
