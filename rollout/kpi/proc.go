package kpi

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// ProcConfig configures the proc KPI source (YAML `canary.kpis.proc`): CPU
// and memory of local clusters read from /proc. It needs the instance's
// data directory (InstanceConfig.DataDir), or a DSN whose user may run
// SHOW data_directory (superuser or pg_read_all_settings).
type ProcConfig struct {
	// Enabled turns the source on (it is off by default: it only works for
	// clusters on the same machine).
	Enabled bool `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// Root is the proc filesystem; default /proc.
	Root string `yaml:"root,omitempty" json:"root,omitempty"`
}

// Proc samples the CPU and memory of a local PostgreSQL cluster: the
// postmaster's pid comes from postmaster.pid in the data directory, and the
// cluster's processes are the postmaster and its children. Per window it
// yields "cpu" (CPU seconds per second: utime+stime of the live processes
// plus the postmaster's cutime+cstime for exited backends, differenced) and
// "memory" (bytes: the summed proportional set size, Pss, when
// smaps_rollup is readable, else the summed RSS, which counts shared
// buffers once per process). The counters are those of the whole cluster,
// not of one database. Safe for concurrent use.
type Proc struct {
	root     string
	p        passive[procSnap]
	pageSize int64
	ticks    float64

	mu       sync.Mutex
	pools    map[string]*pgxpool.Pool
	dataDirs map[string]string
}

var _ KPISource = (*Proc)(nil)

// NewProc returns the source; store keeps snapshots and collected windows
// (nil: a fresh MemoryStore).
func NewProc(cfg ProcConfig, store SampleStore) (*Proc, error) {
	if store == nil {
		store = NewMemoryStore(0)
	}
	root := cfg.Root
	if root == "" {
		root = "/proc"
	}
	if _, err := os.Stat(filepath.Join(root, "self", "stat")); err != nil {
		return nil, fmt.Errorf("%w: proc root %s: %w", ErrBadConfig, root, err)
	}
	p := &Proc{root: root, pageSize: int64(os.Getpagesize()), ticks: 100, // USER_HZ is 100 on Linux
		pools: map[string]*pgxpool.Pool{}, dataDirs: map[string]string{}}
	p.p = passive[procSnap]{source: "proc", store: store, slack: time.Second, take: p.snapshot, diff: p.diff}
	return p, nil
}

// Name implements KPISource.
func (p *Proc) Name() string { return "proc" }

// Collect implements KPISource.
func (p *Proc) Collect(ctx context.Context, t Target, from, to time.Time) ([]judge.Sample, error) {
	return p.p.collect(ctx, t, from, to)
}

// Close closes the connections used to find data directories.
func (p *Proc) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, pool := range p.pools {
		pool.Close()
		delete(p.pools, k)
	}
}

type procSnap struct {
	At         time.Time `json:"at"`
	Postmaster int       `json:"postmaster"`
	CPUTicks   int64     `json:"cpu_ticks"`
	MemBytes   int64     `json:"mem_bytes"`
	Procs      int       `json:"procs"`
}

func (p *Proc) dataDir(ctx context.Context, t Target) (string, error) {
	if t.DataDir != "" {
		return t.DataDir, nil
	}
	p.mu.Lock()
	d, ok := p.dataDirs[t.Instance]
	p.mu.Unlock()
	if ok {
		return d, nil
	}
	pool, err := sharedPool(ctx, &p.mu, p.pools, t, 1, false)
	if err != nil {
		return "", err
	}
	if err := pool.QueryRow(ctx, "SHOW data_directory").Scan(&d); err != nil {
		return "", fmt.Errorf("instance %s: SHOW data_directory (set data_dir in the fleet config instead): %w", t.Instance, err)
	}
	p.mu.Lock()
	p.dataDirs[t.Instance] = d
	p.mu.Unlock()
	return d, nil
}

func (p *Proc) snapshot(ctx context.Context, t Target) (procSnap, error) {
	var snap procSnap
	dir, err := p.dataDir(ctx, t)
	if err != nil {
		return snap, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return snap, fmt.Errorf("postmaster.pid: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return snap, fmt.Errorf("postmaster.pid: first line %q: %w", line, err)
	}
	snap.Postmaster = pm
	// Children first, the postmaster last: a backend that exits in between
	// is then counted twice (its times move into the postmaster's cutime
	// when reaped) rather than not at all, so the cumulative CPU never
	// goes backwards between snapshots.
	entries, err := os.ReadDir(p.root)
	if err != nil {
		return snap, fmt.Errorf("read %s: %w", p.root, err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pm {
			continue
		}
		c, err := p.stat(pid)
		if err != nil || c.ppid != pm {
			continue // gone, or not a backend of this cluster
		}
		snap.CPUTicks += c.utime + c.stime
		snap.MemBytes += p.memory(pid, c.rss)
		snap.Procs++
	}
	st, err := p.stat(pm)
	if err != nil {
		return snap, fmt.Errorf("postmaster %d: %w", pm, err)
	}
	snap.CPUTicks += st.utime + st.stime + st.cutime + st.cstime
	snap.MemBytes += p.memory(pm, st.rss)
	snap.Procs++
	snap.At = time.Now()
	return snap, nil
}

type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime int64
	rss                          int64
}

// stat parses /proc/<pid>/stat; the command name may contain spaces and
// parentheses, so fields are counted after the last ')'.
func (p *Proc) stat(pid int) (procStat, error) {
	var s procStat
	b, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return s, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return s, fmt.Errorf("pid %d: malformed stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15,
	// cutime 16, cstime 17, rss 24.
	if len(f) < 22 {
		return s, fmt.Errorf("pid %d: short stat", pid)
	}
	num := func(k int) int64 { v, _ := strconv.ParseInt(f[k-3], 10, 64); return v }
	s.ppid = int(num(4))
	s.utime, s.stime, s.cutime, s.cstime = num(14), num(15), num(16), num(17)
	s.rss = num(24) * p.pageSize
	return s, nil
}

// memory is the process's Pss from smaps_rollup, or rss when unreadable.
func (p *Proc) memory(pid int, rss int64) int64 {
	f, err := os.Open(filepath.Join(p.root, strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return rss
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return rss
}

func (p *Proc) diff(t Target, prev, cur procSnap, _, to time.Time) []judge.Sample {
	out := []judge.Sample{{Instance: t.Instance, KPI: judge.KPIMemory, At: to, Value: float64(cur.MemBytes), Count: 1}}
	wall := cur.At.Sub(prev.At).Seconds()
	if cur.Postmaster == prev.Postmaster && wall > 0 && cur.CPUTicks >= prev.CPUTicks {
		out = append(out, judge.Sample{Instance: t.Instance, KPI: judge.KPICPU, At: to,
			Value: float64(cur.CPUTicks-prev.CPUTicks) / p.ticks / wall, Count: 1})
	}
	return out
}
