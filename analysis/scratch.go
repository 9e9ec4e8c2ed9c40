package analysis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// scratch is a throwaway database on the target's server holding a copy of
// the target's schema (pg_dump --schema-only, restored with psql) and no
// data. Verify and the dry run apply migrations there; the target itself
// is only read. The role of the target's DSN needs CREATEDB.
type scratch struct {
	name  string
	dsn   string
	admin *pgx.Conn
}

// newScratch dumps the schema of dsn and restores it into a new database
// named schemacanary_<purpose>_<random>. binDir holds pg_dump and psql
// ("" finds them); dsn is one libpq reads (libpqDSN). Close drops the
// database.
func newScratch(ctx context.Context, dsn, binDir, purpose string) (*scratch, error) {
	if binDir == "" {
		dir, err := findPgBin()
		if err != nil {
			return nil, err
		}
		binDir = dir
	}
	dump, err := pgDump(ctx, binDir, dsn)
	if err != nil {
		return nil, err
	}
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux (Go ≥ 1.24 panics instead)
	sc := &scratch{name: "schemacanary_" + purpose + "_" + hex.EncodeToString(b[:]), admin: admin}
	if sc.dsn, err = withDatabase(dsn, sc.name); err != nil {
		admin.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{sc.name}.Sanitize()); err != nil {
		admin.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("create scratch database: %w", err)
	}
	if err := psqlRestore(ctx, binDir, sc.dsn, dump); err != nil {
		sc.Close(ctx)
		return nil, fmt.Errorf("restore schema into %s: %w", sc.name, err)
	}
	return sc, nil
}

// Close drops the scratch database (even when ctx is cancelled).
func (sc *scratch) Close(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	// The error is dropped on purpose: a scratch database left behind by a
	// failed drop is named schemacanary_* and holds no data.
	_, _ = sc.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{sc.name}.Sanitize()+" WITH (FORCE)")
	sc.admin.Close(ctx)
}

func findPgBin() (string, error) {
	if p, err := exec.LookPath("pg_dump"); err == nil {
		if _, err := exec.LookPath("psql"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_dump")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: pg_dump not on PATH nor in /usr/lib/postgresql/*/bin", ErrVerifyTooling)
}

func versionOf(dir string) int {
	var v int
	fmt.Sscanf(filepath.Base(filepath.Dir(dir)), "%d", &v)
	return v
}

func pgDump(ctx context.Context, bin, dsn string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pg_dump"), "--schema-only", "--no-owner", "--no-privileges", "-d", dsn)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: pg_dump: %v: %s", ErrVerifyTooling, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func psqlRestore(ctx context.Context, bin, dsn, dump string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn)
	cmd.Stdin = strings.NewReader(dump)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("psql: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
