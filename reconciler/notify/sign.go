package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery.
const (
	// HeaderTimestamp carries the Unix time (seconds) the delivery was
	// signed at; every attempt is signed afresh.
	HeaderTimestamp = "X-Schemacanary-Timestamp"
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256 of
	// timestamp + "." + body, keyed with the sink's secret. Absent when the
	// sink has no secret (allowed for the slack format only).
	HeaderSignature = "X-Schemacanary-Signature"
	// HeaderEventID carries Event.ID, for deduplication.
	HeaderEventID = "X-Schemacanary-Event-Id"
	// HeaderEventKind carries Event.Kind.
	HeaderEventKind = "X-Schemacanary-Event"
)

// DefaultTolerance is how far from the receiver's clock Verify accepts a
// timestamp by default: older deliveries are treated as replays.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify.
var (
	// ErrBadSignature: the signature header is missing, malformed or does
	// not match the body and timestamp.
	ErrBadSignature = errors.New("invalid signature")
	// ErrStaleTimestamp: the timestamp is missing, malformed or further
	// than the tolerance from now (a replay, or a skewed clock).
	ErrStaleTimestamp = errors.New("timestamp outside tolerance")
)

// Sign returns the value of the signature header for body sent at ts:
// "sha256=" + hex(HMAC-SHA256(secret, "<unix seconds>." + body)).
func Sign(secret []byte, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery as a receiver should: the timestamp header is
// within tolerance of now (DefaultTolerance when tolerance <= 0), and the
// signature header matches the HMAC of timestamp + "." + body, compared in
// constant time. It returns nil, or an error wrapping ErrStaleTimestamp or
// ErrBadSignature. To reject replays inside the tolerance too, remember the
// HeaderEventID values seen within it.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not Unix seconds", ErrStaleTimestamp, HeaderTimestamp, timestamp)
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now", ErrStaleTimestamp, ts.UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	got, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return fmt.Errorf("%w: %s must start with sha256=", ErrBadSignature, HeaderSignature)
	}
	gotMAC, err := hex.DecodeString(got)
	if err != nil {
		return fmt.Errorf("%w: not hex", ErrBadSignature)
	}
	want, _ := hex.DecodeString( // Sign writes hex: cannot fail
		strings.TrimPrefix(Sign(secret, ts, body), "sha256="))
	if !hmac.Equal(gotMAC, want) {
		return ErrBadSignature
	}
	return nil
}
