package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// shared is the one cluster of a test binary, started by Main. It is the only
// package-level state here, and it exists only inside test binaries that call
// Main.
var (
	sharedMu sync.Mutex
	shared   *Cluster
	dbSeq    atomic.Int64
)

// Main starts one cluster for the whole test binary, runs the tests, stops
// the cluster and exits. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without PostgreSQL binaries, tests that need a database are skipped with a
// message saying what to install, except under CI=true, where they fail.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := Start(ctx, Options{Name: "test"})
	cancel()
	switch {
	case errors.Is(err, ErrNoPostgres) && os.Getenv("CI") != "true":
		fmt.Fprintln(os.Stderr, "pgtest:", err, "(database tests will be skipped)")
	case err != nil:
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	default:
		sharedMu.Lock()
		shared = c
		sharedMu.Unlock()
		defer c.Stop()
	}
	return m.Run()
}

// Shared returns the cluster started by Main, skipping the test when there is
// none (no PostgreSQL binaries outside CI).
func Shared(t testing.TB) *Cluster {
	t.Helper()
	sharedMu.Lock()
	c := shared
	sharedMu.Unlock()
	if c == nil {
		requirePostgres(t)
		t.Fatal("pgtest: no shared cluster: call pgtest.Main from TestMain")
	}
	return c
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates a fresh database on the shared cluster, named after the
// test, and drops it when the test ends. It returns the DSN.
func NewDatabase(t testing.TB) string {
	t.Helper()
	c := Shared(t)
	name := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("t%d_%s", dbSeq.Add(1), name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, err := c.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return dsn
}

// NewCluster starts a dedicated cluster for one test and stops it at cleanup.
func NewCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	requirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Logf("%v", err)
		}
	})
	return c
}

// NewFleet starts n clusters named prefix-0 … prefix-(n-1) concurrently and
// stops them all at cleanup.
func NewFleet(t testing.TB, prefix string, n int) []*Cluster {
	t.Helper()
	requirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fleet, err := StartFleet(ctx, prefix, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { StopAll(fleet) })
	return fleet
}

// StartFleet starts n clusters concurrently. On error it stops the ones that
// started.
func StartFleet(ctx context.Context, prefix string, n int) ([]*Cluster, error) {
	fleet := make([]*Cluster, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range fleet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fleet[i], errs[i] = Start(ctx, Options{Name: fmt.Sprintf("%s-%d", prefix, i)})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		StopAll(fleet)
		return nil, err
	}
	return fleet, nil
}

// StopAll stops every non-nil cluster.
func StopAll(fleet []*Cluster) {
	for _, c := range fleet {
		if c != nil {
			c.Stop() //nolint:errcheck // best effort at teardown
		}
	}
}

// requirePostgres skips (or under CI=true fails) a test when no PostgreSQL
// binaries are installed.
func requirePostgres(t testing.TB) {
	t.Helper()
	if _, err := BinDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// Exec runs each statement on dsn in its own round trip, failing t on the
// first error.
func Exec(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	withConn(t, dsn, func(ctx context.Context, conn *pgx.Conn) {
		for _, s := range stmts {
			if _, err := conn.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	})
}

// QueryInt runs q (with args) on dsn and returns its single integer,
// failing t on an error.
func QueryInt(t testing.TB, dsn, q string, args ...any) int {
	t.Helper()
	var n int
	withConn(t, dsn, func(ctx context.Context, conn *pgx.Conn) {
		if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	})
	return n
}

// withConn runs fn on a connection to dsn, closed when fn returns.
func withConn(t testing.TB, dsn string, fn func(context.Context, *pgx.Conn)) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	fn(ctx, conn)
}
