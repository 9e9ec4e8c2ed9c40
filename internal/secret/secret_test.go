package secret

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestSecretNeverLogged resolves a DSN with a password, fails to connect with
// it, and checks that neither the logs nor the error mention the password.
func TestSecretNeverLogged(t *testing.T) {
	t.Parallel()
	const pw = "s3cr3t-Pa55word"
	dsn := fmt.Sprintf("postgres://app:%s@127.0.0.1:1/control?connect_timeout=1", pw)
	dir := t.TempDir()
	file := filepath.Join(dir, "dsn")
	if err := os.WriteFile(file, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var red Redactor
	var buf bytes.Buffer
	log := slog.New(NewRedactingHandler(slog.NewJSONHandler(&buf, nil), &red))

	sec, err := Ref{File: file}.Resolve(&red)
	if err != nil {
		t.Fatal(err)
	}
	_, cerr := pgx.Connect(context.Background(), sec.Reveal())
	if cerr == nil {
		t.Fatal("connect to port 1 succeeded")
	}
	err = red.Err(fmt.Errorf("connect control store %s: %w", sec.Reveal(), cerr))
	log.Error("connect", "err", err, "dsn", sec, "raw", dsn, "cause", cerr)
	log.With("conn", dsn).Info("message with " + dsn)
	log.Info("printf", "v", fmt.Sprintf("%v %+v %#v %s", sec, sec, sec, sec))

	for _, s := range []string{buf.String(), err.Error(), fmt.Sprint(sec)} {
		if strings.Contains(s, pw) {
			t.Errorf("password leaked: %s", s)
		}
	}
	if !strings.Contains(buf.String(), redacted) {
		t.Errorf("log does not show the redaction marker: %s", buf.String())
	}
	var pgErr *pgconn.ConnectError
	if !errors.As(err, &pgErr) {
		t.Errorf("redacted error lost its chain: %T", err)
	}
	if _, err := (Ref{Env: "SCHEMACANARY_UNSET_FOR_TEST"}).Resolve(&red); !errors.Is(err, ErrUnset) {
		t.Errorf("unset env: %v", err)
	}
}
