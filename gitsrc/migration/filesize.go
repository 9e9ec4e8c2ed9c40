package migration

import "fmt"

// DefaultMaxFileBytes is the default size limit of a migration file: 1 MiB,
// about 20,000 statements. Larger files are rejected with ErrTooLarge before
// they are read: one such file once held the daemon's loop for minutes and
// most of a gigabyte of memory.
const DefaultMaxFileBytes int64 = 1 << 20

// CheckFileSize returns a *MigrationError wrapping ErrTooLarge when size
// (in bytes) exceeds limit, naming the file, its size and the limit; nil
// otherwise. A limit <= 0 means no limit. Repo applies it to every file it
// reads from Git (gitsrc.WithMaxFileBytes); the CLI applies it to files on disk.
func CheckFileSize(file string, size, limit int64) error {
	if limit <= 0 || size <= limit {
		return nil
	}
	return Errorf(file, 0, ErrTooLarge, "%s (%d bytes) is above the limit of %s (%d bytes); split it into smaller migrations, or raise the limit (repo.max_file_bytes, --max-file-bytes)",
		humanBytes(size), size, humanBytes(limit), limit)
}

// humanBytes formats n in binary units with three significant figures.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f %s", v, suffix)
	case v < 100:
		return fmt.Sprintf("%.1f %s", v, suffix)
	}
	return fmt.Sprintf("%.0f %s", v, suffix)
}
