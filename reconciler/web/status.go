package web

import (
	"context"

	"github.com/schemacanary/schemacanary/reconciler/change"
)

// StatusSource is what the status page reads: a read-only view of the
// control store. The control store implements it; tests use a fake. Methods
// must be safe for concurrent use (each HTTP request calls them).
type StatusSource interface {
	// ListChanges returns the change requests, newest version first.
	ListChanges(ctx context.Context) ([]change.StatusChange, error)
	// GetChange returns one change request with its timeline, prediction
	// reasons and KPI series, or (nil, nil) when there is no such version.
	GetChange(ctx context.Context, version int64) (*change.StatusChangeDetail, error)
}
