package main

import (
	"fmt"
	"io"
	"os"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/spf13/pflag"
)

// maxFileBytesFlag adds --max-file-bytes to a command that reads migration
// files: the same limit, with the same default, as the daemon's
// repo.max_file_bytes.
func maxFileBytesFlag(fl *pflag.FlagSet, p *int64) {
	fl.Int64Var(p, "max-file-bytes", migration.DefaultMaxFileBytes,
		"refuse migration files larger than this many bytes, as the daemon does (repo.max_file_bytes); 0: no limit")
}

// readMigrationFile reads a migration file, refusing one larger than limit
// bytes (0: no limit) before reading it; that error wraps
// gitsrc.ErrTooLarge and names the file, its size and the limit.
func readMigrationFile(path string, limit int64) ([]byte, error) {
	if limit < 0 {
		return nil, fmt.Errorf("--max-file-bytes %d: must be >= 0", limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := migration.CheckFileSize(path, st.Size(), limit); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}
