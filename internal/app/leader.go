package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler"
)

// LeaderLockKey is the advisory lock key every replica competes for on the
// control database ("schemacanary" in ASCII, truncated to 63 bits).
const LeaderLockKey int64 = 0x736368656d61636e

// Leader elects one replica among several with a session advisory lock
// (pg_try_advisory_lock) held on a dedicated connection to the control
// database. The lock lives as long as the session: a crashed leader's lock
// is released by the server, and a leader that cannot ping its connection
// stops acting at once (its work context is canceled).
type Leader struct {
	dsn      secret.Secret
	red      *secret.Redactor
	log      *slog.Logger
	metrics  *reconciler.Metrics
	interval time.Duration
	key      int64
	leading  atomic.Bool
}

// LeaderOption configures a Leader.
type LeaderOption func(*Leader) error

// WithLeaderInterval sets how often the lock is tried and the connection
// pinged; default 2s.
func WithLeaderInterval(d time.Duration) LeaderOption {
	return func(l *Leader) error {
		if d <= 0 {
			return fmt.Errorf("leader interval %s must be > 0", d)
		}
		l.interval = d
		return nil
	}
}

// WithLeaderLogger sets the logger.
func WithLeaderLogger(log *slog.Logger) LeaderOption {
	return func(l *Leader) error { l.log = log; return nil }
}

// WithLeaderMetrics records leadership in m.
func WithLeaderMetrics(m *reconciler.Metrics) LeaderOption {
	return func(l *Leader) error { l.metrics = m; return nil }
}

// WithLeaderKey sets the advisory lock key (tests run several elections on
// one database); default LeaderLockKey.
func WithLeaderKey(k int64) LeaderOption {
	return func(l *Leader) error { l.key = k; return nil }
}

// NewLeader returns an elector for the control database at dsn.
func NewLeader(dsn secret.Secret, red *secret.Redactor, opts ...LeaderOption) (*Leader, error) {
	l := &Leader{dsn: dsn, red: red, log: slog.New(slog.DiscardHandler), interval: 2 * time.Second, key: LeaderLockKey}
	for _, o := range opts {
		if err := o(l); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Leading reports whether this replica holds the lock now.
func (l *Leader) Leading() bool { return l.leading.Load() }

// Run competes for leadership until ctx ends. Each time it wins, it calls
// lead with a context that is canceled as soon as the lock's connection
// fails a ping (or ctx ends), and waits for lead to return before
// competing again. It returns ctx's error.
func (l *Leader) Run(ctx context.Context, lead func(context.Context)) error {
	for {
		err := l.term(ctx, lead)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			l.log.Warn("leader election", "err", l.red.Err(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.interval):
		}
	}
}

// term connects, waits until it holds the lock, leads, and returns when the
// connection is lost or ctx ends.
func (l *Leader) term(ctx context.Context, lead func(context.Context)) error {
	cctx, cancel := context.WithTimeout(ctx, max(l.interval, 5*time.Second))
	conn, err := pgx.Connect(cctx, l.dsn.Reveal())
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx) // ends the session and so releases the lock
	}()
	for {
		var got bool
		qctx, cancel := context.WithTimeout(ctx, max(l.interval, time.Second))
		err := conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1)`, l.key).Scan(&got)
		cancel()
		if err != nil {
			return fmt.Errorf("try lock: %w", err)
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.interval):
		}
	}
	// A previous leader whose session just ended notices within a tick
	// plus a ping timeout and stops; wait that long before acting, so two
	// replicas never act at once.
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(l.interval + l.pingTimeout() + l.interval/2):
	}
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("lock connection lost before leading: %w", err)
	}
	l.setLeading(true)
	defer l.setLeading(false)
	l.log.Info("leadership acquired")
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lead(wctx)
	}()
	var lost error
	t := time.NewTicker(l.interval)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-done:
			break loop
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, l.pingTimeout())
			err := conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				lost = fmt.Errorf("%w: lock connection lost: %w", ErrLeadershipLost, err)
				break loop
			}
		}
	}
	stop()
	<-done
	if lost != nil {
		l.log.Error("leadership lost; stopped acting", "err", l.red.Err(lost))
	}
	return lost
}

// pingTimeout bounds the leader's connection ping: long enough that a busy
// server is not mistaken for a lost one, short enough to stop quickly.
func (l *Leader) pingTimeout() time.Duration { return max(l.interval, 2*time.Second) }

func (l *Leader) setLeading(on bool) {
	l.leading.Store(on)
	if l.metrics != nil {
		l.metrics.SetLeader(on)
	}
}

// ErrLeadershipLost is logged when the leader's lock connection fails.
var ErrLeadershipLost = errors.New("leadership lost")
