package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMaxFileBytes: lint and predict refuse a migration file above
// --max-file-bytes (default 1 MiB, the daemon's repo.max_file_bytes) with
// exit 2 and a message naming the file, its size and the limit; a higher
// limit, or 0, lets it through.
func TestMaxFileBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nCREATE TABLE seed (id int, note text);\n")
	for i := 0; b.Len() <= 1<<20; i++ {
		fmt.Fprintf(&b, "INSERT INTO seed (id, note) VALUES (%d, 'generated row %d');\n", i, i)
	}
	b.WriteString("-- +goose Down\nDROP TABLE seed;\n")
	big := filepath.Join(dir, "00001_seed.sql")
	if err := os.WriteFile(big, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s: migration file too large: 1.00 MiB (%d bytes) is above the limit of 1.00 MiB (1048576 bytes)", big, b.Len())
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"lint", big}, 2, want},
		{[]string{"lint", dir}, 2, want},
		{[]string{"predict", big}, 2, want},
		{[]string{"lint", "--max-file-bytes", "2000000", big}, 0, ""},
		{[]string{"lint", "--max-file-bytes", "0", big}, 0, ""},
		{[]string{"predict", "--max-file-bytes", "2000000", big}, 0, ""},
		{[]string{"lint", "--max-file-bytes", "-1", big}, 2, "must be >= 0"},
	} {
		root := newRootCmd()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs(tc.args)
		err := root.ExecuteContext(context.Background())
		code, msg := 0, ""
		var ee *exitError
		if errors.As(err, &ee) {
			code, msg = ee.code, ee.msg
		} else if err != nil {
			code, msg = 2, err.Error()
		}
		if code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%v: exit %d %q, want %d with %q", tc.args, code, msg, tc.code, tc.msg)
		}
	}
}
