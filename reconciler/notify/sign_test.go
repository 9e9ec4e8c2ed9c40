package notify

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	key := []byte("k3y")
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"kind":"done"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := Sign(key, now, body)
	for _, tc := range []struct {
		name    string
		key     []byte
		ts, sig string
		body    string
		at      time.Time
		want    error
	}{
		{"valid", key, ts, sig, string(body), now.Add(time.Minute), nil},
		{"tampered body", key, ts, sig, `{"kind":"failed"}`, now, ErrBadSignature},
		{"other key", []byte("other"), ts, sig, string(body), now, ErrBadSignature},
		{"timestamp moved", key, strconv.FormatInt(now.Unix()+1, 10), sig, string(body), now, ErrBadSignature},
		{"replayed later", key, ts, sig, string(body), now.Add(6 * time.Minute), ErrStaleTimestamp},
		{"from the future", key, ts, sig, string(body), now.Add(-6 * time.Minute), ErrStaleTimestamp},
		{"no timestamp", key, "", sig, string(body), now, ErrStaleTimestamp},
		{"no prefix", key, ts, sig[len("sha256="):], string(body), now, ErrBadSignature},
		{"not hex", key, ts, "sha256=zz", string(body), now, ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.key, tc.ts, tc.sig, []byte(tc.body), tc.at, 0)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}
