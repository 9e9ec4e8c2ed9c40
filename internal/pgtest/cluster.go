// Package pgtest starts throwaway, real PostgreSQL clusters from the system's
// binaries (initdb, pg_ctl) on 127.0.0.1, for tests, benchmarks and the demo.
//
// As root it runs the server as the "postgres" OS user, since initdb refuses
// root. Every cluster is watched by a small reaper process that stops the
// server and removes its directory if this process dies without cleaning up
// (a panic, a SIGKILL), so no test leaves a server behind.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres is returned when no PostgreSQL server binaries are found.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found: install them, e.g. `apt-get install postgresql postgresql-contrib`, or put their directory on PATH")

// Cluster is one running PostgreSQL server. Its methods are safe for
// concurrent use.
type Cluster struct {
	// Name labels the cluster in logs and the demo.
	Name string
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Dir holds the data directory and the server log.
	Dir string

	binDir   string
	dataDir  string
	cred     *syscall.Credential
	reaper   *exec.Cmd
	stopOnce sync.Once
	stopErr  error
}

// Options tune a new cluster. The zero value is a sensible test server.
type Options struct {
	// Name labels the cluster; default "pg".
	Name string
	// Settings are extra postgresql.conf settings (name -> value).
	Settings map[string]string
}

// BinDir finds the PostgreSQL server binaries: $PG_BINDIR, `pg_config
// --bindir`, PATH, then /usr/lib/postgresql/*/bin (newest first).
func BinDir() (string, error) {
	has := func(dir string) bool {
		_, e1 := os.Stat(filepath.Join(dir, "initdb"))
		_, e2 := os.Stat(filepath.Join(dir, "pg_ctl"))
		return e1 == nil && e2 == nil
	}
	if d := os.Getenv("PG_BINDIR"); d != "" && has(d) {
		return d, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(matches) - 1; i >= 0; i-- {
		if has(matches[i]) {
			return matches[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", ErrNoPostgres
}

// Start initializes and starts a new cluster. The caller must Stop it.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = "pg"
	}
	c := &Cluster{Name: opts.Name, binDir: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres OS user (it comes with the postgresql package): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	c.Dir, err = os.MkdirTemp("", "schemacanary-pg-"+opts.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: temp dir: %w", err)
	}
	// MkdirTemp makes 0700; the server user must traverse it.
	if err := os.Chmod(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if c.cred != nil {
		if err := os.Chown(c.Dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgtest: chown: %w", err)
		}
	}
	c.dataDir = filepath.Join(c.Dir, "data")
	if out, err := c.run(ctx, "initdb", "-D", c.dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(c.Dir)
		return nil, fmt.Errorf("pgtest: initdb: %w: %s", err, out)
	}
	if err := c.startReaper(); err != nil {
		os.RemoveAll(c.Dir)
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			lastErr = err
			continue
		}
		if err := c.writeConf(port, opts.Settings); err != nil {
			c.Stop()
			return nil, err
		}
		out, err := c.run(ctx, "pg_ctl", "-D", c.dataDir, "-l", filepath.Join(c.Dir, "server.log"), "-w", "-t", "60", "start")
		if err == nil {
			c.Port = port
			return c, nil
		}
		lastErr = fmt.Errorf("pg_ctl start: %w: %s; server log: %s", err, out, tail(filepath.Join(c.Dir, "server.log")))
	}
	c.Stop()
	return nil, fmt.Errorf("pgtest: start %s: %w", opts.Name, lastErr)
}

func (c *Cluster) writeConf(port int, extra map[string]string) error {
	conf := map[string]string{
		"listen_addresses":                    "'127.0.0.1'",
		"port":                                strconv.Itoa(port),
		"unix_socket_directories":             "'" + c.Dir + "'",
		"shared_preload_libraries":            "'pg_stat_statements'",
		"pg_stat_statements.track":            "all",
		"max_connections":                     "200",
		"fsync":                               "off",
		"synchronous_commit":                  "off",
		"full_page_writes":                    "off",
		"log_min_messages":                    "warning",
		"track_io_timing":                     "on",
		"max_locks_per_transaction":           "256",
		"deadlock_timeout":                    "200ms",
		"idle_in_transaction_session_timeout": "0",
	}
	for k, v := range extra {
		conf[k] = v
	}
	var b strings.Builder
	for k, v := range conf {
		fmt.Fprintf(&b, "%s = %s\n", k, v)
	}
	p := filepath.Join(c.dataDir, "postgresql.auto.conf")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("pgtest: write config: %w", err)
	}
	if c.cred != nil {
		return os.Chown(p, int(c.cred.Uid), int(c.cred.Gid))
	}
	return nil
}

// startReaper launches a watchdog that stops the server and removes Dir once
// this process is gone, whatever way it ended.
func (c *Cluster) startReaper() error {
	asServer := ""
	if c.cred != nil {
		// The reaper stays root so it can remove Dir; only pg_ctl runs as postgres.
		asServer = fmt.Sprintf("setpriv --reuid=%d --regid=%d --clear-groups ", c.cred.Uid, c.cred.Gid)
	}
	script := fmt.Sprintf(`while kill -0 %d 2>/dev/null; do sleep 1; done
%s%s -D %s -m immediate stop >/dev/null 2>&1
rm -rf %s`, os.Getpid(), asServer, shellQuote(filepath.Join(c.binDir, "pg_ctl")), shellQuote(c.dataDir), shellQuote(c.Dir))
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start reaper: %w", err)
	}
	c.reaper = cmd
	go cmd.Wait() //nolint:errcheck // the reaper's exit status carries nothing
	return nil
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

// Stop shuts the server down fast and removes its directory. It is safe to
// call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		if c.Port != 0 {
			if out, err := c.run(context.Background(), "pg_ctl", "-D", c.dataDir, "-m", "immediate", "-w", "stop"); err != nil {
				c.stopErr = fmt.Errorf("pgtest: stop %s: %w: %s", c.Name, err, out)
			}
		}
		if c.reaper != nil && c.reaper.Process != nil {
			c.reaper.Process.Kill() //nolint:errcheck // already gone is fine
		}
		if err := os.RemoveAll(c.Dir); err != nil && c.stopErr == nil {
			c.stopErr = fmt.Errorf("pgtest: remove %s: %w", c.Dir, err)
		}
	})
	return c.stopErr
}

// DSN is a libpq URL for database db as the superuser "postgres".
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Host is the address the server listens on.
func (c *Cluster) Host() string { return "127.0.0.1" }

// BinDir is the directory of the server binaries this cluster runs (pgbench
// and pg_dump are usually there too).
func (c *Cluster) BinDir() string { return c.binDir }

// Tool returns the path of a client program of this cluster's version
// (pgbench, pg_dump, ...): from BinDir when there, else from PATH, else
// the bare name.
func (c *Cluster) Tool(name string) string {
	if p := filepath.Join(c.binDir, name); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// CreateDatabase creates database name (optionally from template) and returns
// its DSN.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: connect %s: %w", c.Name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	dsn := c.DSN(name)
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", fmt.Errorf("pgtest: connect %s: %w", name, err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return "", fmt.Errorf("pgtest: pg_stat_statements in %s: %w", name, err)
	}
	return dsn, nil
}

// DropDatabase drops database name, terminating its sessions.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect %s: %w", c.Name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", name, err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
