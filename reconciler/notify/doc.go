// Package notify sends the pipeline's events (a change awaits approval, its
// canary starts, a wave is promoted, it is rolled back, fails, drifts,
// regresses while watched, or is done) to outbound webhooks: a generic JSON
// body or a Slack-compatible one, signed with HMAC-SHA256 over a timestamp
// and the body.
//
// Delivery never blocks the caller: Dispatcher.Notify puts the event on a
// bounded queue per sink and returns; one goroutine per sink posts it,
// retrying with exponential backoff and jitter (and the receiver's
// Retry-After), and drops the oldest queued event when the queue is full.
// Delivery is best effort: at least once while the daemon runs (a receiver
// dedupes on Event.ID), and what is still queued when the process ends after
// the flush deadline is lost (counted and logged). The control store, the
// audit branch and the Prometheus rules in deploy/prometheus stay the record.
//
// The package knows nothing of the control store or the reconciler: the
// reconciler builds an Event from each transition and calls Notify through an
// interface it declares.
//
// Receivers verify a delivery with Verify (or the recipe in
// docs/operations.md): the signature is
//
//	X-Schemacanary-Signature: sha256=hex(HMAC-SHA256(secret, timestamp + "." + body))
//
// where timestamp is the X-Schemacanary-Timestamp header (Unix seconds).
package notify
