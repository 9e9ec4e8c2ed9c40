package notify_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/reconciler/notify"
)

// The signature of a body sent at a given second; the same as
// printf '%s' '1800000000.{"kind":"done"}' | openssl dgst -sha256 -hmac k3y
func ExampleSign() {
	fmt.Println(notify.Sign([]byte("k3y"), time.Unix(1_800_000_000, 0), []byte(`{"kind":"done"}`)))
	// Output: sha256=07e9ded5b3ffa0f70a0b3503ea764875ab07ca49641728a4a764d55753e6166d
}

// A receiver written in Go checks each delivery with Verify before it
// trusts the body.
func ExampleVerify() {
	secret := []byte("k3y") // the value of the sink's secret_env
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = notify.Verify(secret, r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature), body, time.Now(), 0)
		}
		if err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Println("accepted", r.Header.Get(notify.HeaderEventKind))
	})
	rec := httptest.NewRecorder()
	body := `{"kind":"done"}`
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	now := time.Now()
	req.Header.Set(notify.HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(notify.HeaderSignature, notify.Sign(secret, now, []byte(body)))
	req.Header.Set(notify.HeaderEventKind, "done")
	receiver.ServeHTTP(rec, req)

	req = httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(`{"kind":"failed"}`))
	req.Header.Set(notify.HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(notify.HeaderSignature, notify.Sign(secret, now, []byte(body))) // another body's signature
	rec = httptest.NewRecorder()
	receiver.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// accepted done
	// 401
}
