package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/notify"
	"github.com/schemacanary/schemacanary/reconciler/store"
)

// OpenControl resolves the control DSN of cfg and opens the control store
// (for the approve and skip commands).
func OpenControl(ctx context.Context, cfg *Config, red *secret.Redactor, log *slog.Logger) (*store.Store, error) {
	dsn, err := cfg.Control.DSN().Resolve(red)
	if err != nil {
		return nil, fmt.Errorf("control store dsn: %w", err)
	}
	s, err := store.Open(ctx, dsn, red, log)
	return s, red.Err(err)
}

// NewAlerts builds the Dispatcher of cfg's webhooks (nil, nil without any):
// it resolves their URLs and secrets (registering them with red), and
// registers the delivery metrics on m's registry. Build calls it; the
// Daemon runs it.
func NewAlerts(cfg AlertsConfig, log *slog.Logger, red *secret.Redactor, m *reconciler.Metrics) (*notify.Dispatcher, error) {
	if len(cfg.Webhooks) == 0 {
		return nil, nil
	}
	sinks, err := cfg.sinks(red)
	if err != nil {
		return nil, err // names its key (alerts.webhooks[i]...)
	}
	opts := []notify.Option{notify.WithLogger(log), notify.WithScrubber(red.Scrub)}
	if m != nil {
		opts = append(opts, notify.WithRegisterer(m.Registry()))
	}
	if cfg.StatusURL != "" {
		opts = append(opts, notify.WithStatusURL(cfg.StatusURL))
	}
	d, err := notify.New(sinks, opts...)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	return d, nil
}
