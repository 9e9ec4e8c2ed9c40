package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
)

// Resolver resolves a FleetConfig again on every call and remembers the
// last fleet it resolved. A resolution that fails changes nothing: the
// previous fleet is returned (and the error logged and kept for
// LastError); only the first resolution's failure is returned as an error.
// Targets that appeared or disappeared since the previous resolution are
// logged and passed to the observer. It is safe for concurrent use.
type Resolver struct {
	cfg     FleetConfig
	log     *slog.Logger
	secrets func(string)
	observe func(FleetChange)

	mu      sync.Mutex
	last    *Fleet
	lastErr error
}

// FleetChange is what a resolution changed: the names of the targets that
// appeared and of those that disappeared since the previous resolution
// (both sorted), or the error of a resolution that failed (the previous
// fleet then stays in use).
type FleetChange struct {
	Added, Removed []string
	Err            error
	// Size is the number of instances of the fleet in use after it.
	Size int
}

// ResolverOption configures a Resolver.
type ResolverOption func(*Resolver)

// WithResolverLogger logs resolutions that fail or change the fleet
// (default: slog.Default()).
func WithResolverLogger(l *slog.Logger) ResolverOption {
	return func(r *Resolver) {
		if l != nil {
			r.log = l
		}
	}
}

// WithSecretSink is given every DSN read (inventory and targets), e.g. a
// redactor's Add; each distinct value once, however often it is read
// again.
func WithSecretSink(fn func(string)) ResolverOption { return func(r *Resolver) { r.secrets = fn } }

// WithFleetObserver is called, synchronously, after every resolution that
// failed or changed the fleet's membership.
func WithFleetObserver(fn func(FleetChange)) ResolverOption {
	return func(r *Resolver) { r.observe = fn }
}

// NewResolver validates cfg (its defaults set) and returns a Resolver that
// has not resolved anything yet.
func NewResolver(cfg FleetConfig, opts ...ResolverOption) (*Resolver, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Resolver{cfg: cfg, log: slog.Default(), secrets: func(string) {}, observe: func(FleetChange) {}}
	for _, o := range opts {
		o(r)
	}
	r.secrets = onlyNew(r.secrets)
	return r, nil
}

// ErrNoFleet is returned by Resolve when the first resolution fails: there
// is no previous fleet to keep.
var ErrNoFleet = errors.New("fleet: no resolved fleet")

// Resolve resolves the fleet now. On failure it returns the previous fleet
// and a nil error (the failure is logged, observed and kept for
// LastError), or, when nothing was resolved before, an error wrapping
// ErrNoFleet and the cause.
func (r *Resolver) Resolve(ctx context.Context) (*Fleet, error) {
	fl, err := r.cfg.ResolveContext(ctx, r.secrets)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil && r.last != nil && ctx.Err() != nil {
		return r.last, nil // shutting down: not the inventory's failure
	}
	if err != nil {
		r.lastErr = err
		if r.last == nil {
			return nil, fmt.Errorf("%w: %w", ErrNoFleet, err)
		}
		r.log.Error("fleet resolution failed; keeping the previous fleet", "instances", len(r.last.Instances), "err", err)
		r.observe(FleetChange{Err: err, Size: len(r.last.Instances)})
		return r.last, nil
	}
	r.lastErr = nil
	if r.last != nil {
		ch := diffFleets(r.last, fl)
		for _, n := range ch.Removed {
			r.log.Warn("target disappeared from the fleet; it is skipped from now on", "instance", n)
		}
		for _, n := range ch.Added {
			r.log.Info("target appeared in the fleet", "instance", n)
		}
		if len(ch.Added)+len(ch.Removed) > 0 {
			r.observe(ch)
		}
	}
	r.last = fl
	return fl, nil
}

// Last returns the fleet in use (nil before the first successful
// resolution).
func (r *Resolver) Last() *Fleet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// LastError returns the error of the latest resolution (nil when it
// succeeded).
func (r *Resolver) LastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// diffFleets names the targets of next not in prev and of prev not in
// next, each list in name order.
func diffFleets(prev, next *Fleet) FleetChange {
	was, is := map[string]bool{}, map[string]bool{}
	for _, in := range prev.Instances {
		was[in.Name] = true
	}
	ch := FleetChange{Size: len(next.Instances)}
	for _, in := range next.Instances {
		is[in.Name] = true
		if !was[in.Name] {
			ch.Added = append(ch.Added, in.Name)
		}
	}
	for _, in := range prev.Instances {
		if !is[in.Name] {
			ch.Removed = append(ch.Removed, in.Name)
		}
	}
	sort.Strings(ch.Added)
	sort.Strings(ch.Removed)
	return ch
}

// onlyNew passes each distinct non-empty value to sink once. Safe for
// concurrent use.
func onlyNew(sink func(string)) func(string) {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(v string) {
		mu.Lock()
		defer mu.Unlock()
		if v == "" || seen[v] {
			return
		}
		seen[v] = true
		sink(v)
	}
}
