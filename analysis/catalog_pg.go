package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PGCatalog is the Catalog of a live PostgreSQL database, read with pgx.
// Safe for concurrent use. Close releases its connections.
type PGCatalog struct {
	pool     *pgxpool.Pool
	interval time.Duration
	cache    string
	rows     int
	log      *slog.Logger
	major    int
	// tenant is a schema-per-tenant target's schema (WithCatalogSchema).
	tenant string

	mu    sync.Mutex
	calib *Throughput
}

var _ Catalog = (*PGCatalog)(nil)

// Throughput is the measured speed of table work on one server.
type Throughput struct {
	// RewriteBytesPerSec: bytes of table written per second by a rewrite
	// (CREATE TABLE AS of a sample, the same work ALTER TABLE does).
	RewriteBytesPerSec float64 `json:"rewrite_bytes_per_sec"`
	// ScanBytesPerSec: bytes per second of a sequential scan of the sample.
	ScanBytesPerSec float64 `json:"scan_bytes_per_sec"`
	// Server identifies where it was measured (host:port and version); the
	// cache is only reused for the same server.
	Server     string    `json:"server"`
	MeasuredAt time.Time `json:"measured_at"`
	SampleRows int       `json:"sample_rows"`
}

// CatalogOption configures NewPGCatalog.
type CatalogOption func(*PGCatalog) error

// WithSampleInterval sets the time between the two pg_stat_user_tables
// samples that give writes and scans per second (default 2s; 0 takes one
// sample and reports rates of 0). Negative is an error.
func WithSampleInterval(d time.Duration) CatalogOption {
	return func(c *PGCatalog) error {
		if d < 0 {
			return fmt.Errorf("WithSampleInterval(%s): negative", d)
		}
		c.interval = d
		return nil
	}
}

// WithCalibrationCache stores the measured Throughput in a JSON file and
// reuses it for the same server ("" disables the cache; the default).
func WithCalibrationCache(path string) CatalogOption {
	return func(c *PGCatalog) error { c.cache = path; return nil }
}

// WithCalibrationRows sets the sample size of the calibration (default
// 200,000 rows, about 25 MB). Must be at least 1,000.
func WithCalibrationRows(n int) CatalogOption {
	return func(c *PGCatalog) error {
		if n < 1000 {
			return fmt.Errorf("WithCalibrationRows(%d): want >= 1000", n)
		}
		c.rows = n
		return nil
	}
}

// WithThroughput uses a known Throughput instead of measuring one.
func WithThroughput(t Throughput) CatalogOption {
	return func(c *PGCatalog) error {
		if t.RewriteBytesPerSec <= 0 {
			return errors.New("WithThroughput: RewriteBytesPerSec must be > 0")
		}
		c.calib = &t
		return nil
	}
}

// WithCatalogLogger sets the logger (default: discard).
func WithCatalogLogger(l *slog.Logger) CatalogOption {
	return func(c *PGCatalog) error {
		if l == nil {
			return errors.New("WithCatalogLogger: nil logger")
		}
		c.log = l
		return nil
	}
}

// NewPGCatalog connects to dsn. It fails when the server cannot be reached.
func NewPGCatalog(ctx context.Context, dsn string, opts ...CatalogOption) (*PGCatalog, error) {
	c := &PGCatalog{interval: 2 * time.Second, rows: 200_000, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("catalog: parse dsn: %w", errors.New(redactDSNError(err)))
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("catalog: connect: %w", err)
	}
	var num int
	if err := pool.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
		pool.Close()
		return nil, fmt.Errorf("catalog: connect: %w", err)
	}
	c.pool, c.major = pool, num/10000
	return c, nil
}

// redactDSNError keeps a DSN parse error from echoing the password.
func redactDSNError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "cannot parse"); i >= 0 {
		return "cannot parse the connection string"
	}
	return msg
}

// Close releases the connections.
func (c *PGCatalog) Close() { c.pool.Close() }

// ServerMajor is the server's major version (e.g. 15).
func (c *PGCatalog) ServerMajor() int { return c.major }

type tableSample struct {
	exists          bool
	rows            float64
	bytes           int64
	indexes         int
	writes, scans   float64
	sampledAtMicros int64
	partitioned     bool
	indexColumns    []string
}

const statsQuery = `
SELECT n.name, c.oid IS NOT NULL,
       COALESCE(CASE WHEN c.reltuples >= 0 THEN c.reltuples ELSE s.n_live_tup END, 0)::float8,
       COALESCE(pg_total_relation_size(c.oid), 0),
       COALESCE((SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid), 0)::int,
       COALESCE(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0)::float8,
       COALESCE(s.seq_scan + COALESCE(s.idx_scan, 0), 0)::float8,
       (extract(epoch FROM clock_timestamp()) * 1e6)::int8,
       COALESCE(c.relkind = 'p', false),
       COALESCE((SELECT array_agg((SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                   FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, ord)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n))
                 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisvalid), '{}')
FROM unnest($1::text[], $2::text[]) AS q(schema, name0)
CROSS JOIN LATERAL (SELECT q.schema || '.' || q.name0 AS name) n
LEFT JOIN pg_namespace ns ON ns.nspname = q.schema
LEFT JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = q.name0 AND c.relkind IN ('r', 'p', 'm')
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid`

func (c *PGCatalog) sample(ctx context.Context, tables []string) (map[string]tableSample, error) {
	schemas := make([]string, len(tables))
	names := make([]string, len(tables))
	asked := map[string]string{} // the name read back -> the name asked
	for i, t := range tables {
		schemas[i], names[i] = splitQualified(t)
		schemas[i] = toTenant(c.tenant, schemas[i])
		if schemas[i] == "" {
			schemas[i] = "public"
		}
		asked[schemas[i]+"."+names[i]] = t
	}
	// A fresh snapshot of the cumulative statistics each time.
	if _, err := c.pool.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return nil, fmt.Errorf("clear stats snapshot: %w", err)
	}
	rows, err := c.pool.Query(ctx, statsQuery, schemas, names)
	if err != nil {
		return nil, fmt.Errorf("query table stats: %w", err)
	}
	defer rows.Close()
	out := map[string]tableSample{}
	for rows.Next() {
		var name string
		var s tableSample
		var cols []*string // an expression index has no column names
		if err := rows.Scan(&name, &s.exists, &s.rows, &s.bytes, &s.indexes, &s.writes, &s.scans, &s.sampledAtMicros, &s.partitioned, &cols); err != nil {
			return nil, fmt.Errorf("scan table stats: %w", err)
		}
		for _, c := range cols {
			if c != nil {
				s.indexColumns = append(s.indexColumns, *c)
			}
		}
		if a, ok := asked[name]; ok {
			name = a
		}
		out[name] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("table stats: %w", err)
	}
	return out, nil
}

// TableStats implements Catalog: sizes from pg_class, rates from two
// samples of pg_stat_user_tables WithSampleInterval apart, throughput from
// Calibrate (measured once).
func (c *PGCatalog) TableStats(ctx context.Context, tables []string) (map[string]TableStats, error) {
	first, err := c.sample(ctx, tables)
	if err != nil {
		return nil, err
	}
	second := first
	if c.interval > 0 {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("table stats: %w", ctx.Err())
		case <-time.After(c.interval):
		}
		if second, err = c.sample(ctx, tables); err != nil {
			return nil, err
		}
	}
	tp, err := c.Calibrate(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]TableStats, len(tables))
	for _, t := range tables {
		a, b := first[t], second[t]
		st := TableStats{Name: t, Exists: b.exists, Rows: b.rows, Bytes: b.bytes, Indexes: b.indexes,
			Partitioned: b.partitioned, IndexColumns: b.indexColumns,
			RewriteBytesPerSec: tp.RewriteBytesPerSec, ScanBytesPerSec: tp.ScanBytesPerSec}
		if dt := float64(b.sampledAtMicros-a.sampledAtMicros) / 1e6; dt > 0 {
			st.WritesPerSec = max(0, (b.writes-a.writes)/dt)
			st.ScansPerSec = max(0, (b.scans-a.scans)/dt)
		}
		if st.Exists {
			// Recorded with the stats, so a report (and a lab record)
			// replays its type-change verdicts offline (StaticCatalog).
			if st.Columns, err = c.ColumnTypes(ctx, t); err != nil {
				return nil, err
			}
		}
		out[t] = st
	}
	return out, nil
}

// Calibrate measures (once per PGCatalog, or once per server with a cache
// file) how fast this server rewrites and scans a table: it creates a
// sample table with CREATE TABLE AS inside a transaction that is rolled
// back, and times the copy and a sequential scan of it.
func (c *PGCatalog) Calibrate(ctx context.Context) (Throughput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calib != nil {
		return *c.calib, nil
	}
	var version string
	if err := c.pool.QueryRow(ctx, `SELECT current_setting('server_version')`).Scan(&version); err != nil {
		return Throughput{}, fmt.Errorf("calibrate: identify server: %w", err)
	}
	cc := c.pool.Config().ConnConfig
	server := fmt.Sprintf("%s:%d postgres %s", cc.Host, cc.Port, version)
	if tp, ok := c.readCache(server); ok {
		c.calib = &tp
		return tp, nil
	}
	tp, err := c.measure(ctx)
	if err != nil {
		return Throughput{}, err
	}
	tp.Server = server
	c.calib = &tp
	c.writeCache(tp)
	c.log.Info("calibrated rewrite throughput", "rewrite_mb_s", tp.RewriteBytesPerSec/1e6, "scan_mb_s", tp.ScanBytesPerSec/1e6, "rows", tp.SampleRows)
	return tp, nil
}

func (c *PGCatalog) measure(ctx context.Context) (Throughput, error) {
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return Throughput{}, fmt.Errorf("calibrate: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// The source is built first so the timed copy reads cached pages, like
	// a rewrite of a hot table does.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE schemacanary_calib_src ON COMMIT DROP AS
		SELECT g AS id, md5(g::text) AS payload, now() AS created_at, g % 100 AS bucket
		FROM generate_series(1, $1::int) g`, c.rows); err != nil {
		return Throughput{}, fmt.Errorf("calibrate: build sample: %w", err)
	}
	start := time.Now()
	if _, err := tx.Exec(ctx, `CREATE TABLE schemacanary_calibration AS SELECT * FROM schemacanary_calib_src`); err != nil {
		return Throughput{}, fmt.Errorf("calibrate: rewrite sample: %w", err)
	}
	rewrite := time.Since(start)
	var bytes int64
	if err := tx.QueryRow(ctx, `SELECT pg_total_relation_size('schemacanary_calibration')`).Scan(&bytes); err != nil {
		return Throughput{}, fmt.Errorf("calibrate: size: %w", err)
	}
	start = time.Now()
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM schemacanary_calibration WHERE payload <> ''`).Scan(&n); err != nil {
		return Throughput{}, fmt.Errorf("calibrate: scan: %w", err)
	}
	scan := time.Since(start)
	return Throughput{
		RewriteBytesPerSec: float64(bytes) / max(rewrite.Seconds(), 1e-6),
		ScanBytesPerSec:    float64(bytes) / max(scan.Seconds(), 1e-6),
		MeasuredAt:         time.Now().UTC(), SampleRows: c.rows,
	}, nil
}

func (c *PGCatalog) readCache(server string) (Throughput, bool) {
	if c.cache == "" {
		return Throughput{}, false
	}
	data, err := os.ReadFile(c.cache)
	if err != nil {
		return Throughput{}, false
	}
	var all map[string]Throughput
	if json.Unmarshal(data, &all) != nil {
		return Throughput{}, false
	}
	tp, ok := all[server]
	return tp, ok && tp.RewriteBytesPerSec > 0
}

func (c *PGCatalog) writeCache(tp Throughput) {
	if c.cache == "" {
		return
	}
	all := map[string]Throughput{}
	if data, err := os.ReadFile(c.cache); err == nil {
		if err := json.Unmarshal(data, &all); err != nil {
			// A damaged cache is rewritten with this measurement alone.
			c.log.Warn("calibration cache unreadable: rewriting it", "path", c.cache, "err", err)
			all = map[string]Throughput{}
		}
	}
	all[tp.Server] = tp
	data, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		c.log.Warn("calibration cache", "path", c.cache, "err", err)
		return
	}
	if err := os.MkdirAll(filepath.Dir(c.cache), 0o755); err != nil {
		c.log.Warn("calibration cache", "path", c.cache, "err", err)
		return
	}
	if err := os.WriteFile(c.cache, data, 0o644); err != nil {
		c.log.Warn("calibration cache", "path", c.cache, "err", err)
	}
}

var _ ColumnCatalog = (*PGCatalog)(nil)

// ColumnTypes implements ColumnCatalog: pg_attribute's type and modifier of
// every live column of table, decoded as PostgreSQL's typmodout functions
// do (varchar/bpchar: length + 4; bit/varbit and the time types: the
// value; numeric: ((precision << 16) | scale) + 4; -1: none).
func (c *PGCatalog) ColumnTypes(ctx context.Context, table string) (map[string]ColumnType, error) {
	schema, name := splitQualified(table)
	schema = toTenant(c.tenant, schema)
	if schema == "" {
		schema = "public"
	}
	rows, err := c.pool.Query(ctx, `SELECT a.attname, t.typname, a.atttypmod
		FROM pg_attribute a
		JOIN pg_class cl ON cl.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = cl.relnamespace
		JOIN pg_type t ON t.oid = a.atttypid
		WHERE n.nspname = $1 AND cl.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`, schema, name)
	if err != nil {
		return nil, fmt.Errorf("column types of %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]ColumnType{}
	for rows.Next() {
		var col, typ string
		var mod int32
		if err := rows.Scan(&col, &typ, &mod); err != nil {
			return nil, fmt.Errorf("column types of %s: %w", table, err)
		}
		out[col] = ColumnType{Name: typ, Mods: decodeTypmod(typ, mod)}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("column types of %s: %w", table, err)
	}
	return out, nil
}

// decodeTypmod turns an atttypmod into ColumnType.Mods.
func decodeTypmod(typ string, mod int32) []int {
	if mod < 0 {
		return nil
	}
	switch strings.TrimPrefix(typ, "_") {
	case "varchar", "bpchar":
		return []int{int(mod) - 4}
	case "numeric":
		m := int(mod) - 4
		return []int{(m >> 16) & 0xffff, m & 0xffff}
	case "bit", "varbit", "timestamp", "timestamptz", "time", "timetz":
		return []int{int(mod)}
	}
	return nil // interval's typmod packs fields too: left unbounded
}
