package migration

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckFileSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		size, limit int64
		want        string // "" = nil
	}{
		{100, 100, ""},
		{101, 0, ""},
		{101, 100, "migrations/0001_x.sql: migration file too large: 101 B (101 bytes) is above the limit of 100 B (100 bytes)"},
		{13 << 20, 1 << 20, "13.0 MiB (13631488 bytes) is above the limit of 1.00 MiB (1048576 bytes)"},
		{1536, 1024, "1.50 KiB (1536 bytes)"},
	} {
		err := CheckFileSize("migrations/0001_x.sql", tt.size, tt.limit)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckFileSize(%d, %d) = %v, want nil", tt.size, tt.limit, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrTooLarge)):
			t.Errorf("CheckFileSize(%d, %d) = %v, want ErrTooLarge containing %q", tt.size, tt.limit, err, tt.want)
		}
	}
}
