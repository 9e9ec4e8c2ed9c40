package reconciler

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// maxWebhookBody bounds a webhook payload (GitHub caps them at 25 MB; push
// and pull_request events are far smaller).
const maxWebhookBody = 5 << 20

// webhookHandler verifies GitHub's X-Hub-Signature-256 (HMAC-SHA256 of the
// body with the shared secret, compared in constant time) and triggers a
// poll for push and pull_request events. Other events are acknowledged and
// ignored.
type webhookHandler struct {
	secret  Secret
	trigger func()
	log     *slog.Logger
}

func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		http.Error(w, "payload too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	if !validSignature(h.secret.Reveal(), body, r.Header.Get("X-Hub-Signature-256")) {
		h.log.Warn("webhook signature rejected", "remote", r.RemoteAddr, "event", r.Header.Get("X-GitHub-Event"))
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	switch event {
	case "push", "pull_request":
		h.log.Info("webhook: poll triggered", "event", event, "delivery", r.Header.Get("X-GitHub-Delivery"))
		h.trigger()
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "poll triggered\n")
	case "ping":
		io.WriteString(w, "pong\n")
	default:
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "ignored\n")
	}
}

// validSignature checks "sha256=<hex>" against HMAC-SHA256(secret, body)
// with hmac.Equal (constant time).
func validSignature(secret string, body []byte, header string) bool {
	if secret == "" {
		return false
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
