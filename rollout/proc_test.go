package rollout

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// TestProcFakeRoot checks the /proc parsing on a hand-made proc tree: a
// postmaster (pid 100) with two children, one with a command name holding
// spaces and parentheses, and an unrelated process.
func TestProcFakeRoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	data := t.TempDir()
	write := func(path, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Fields after "(comm)": state ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime stime cutime cstime prio nice threads
	// itreal starttime vsize rss.
	stat := func(pid, ppid string, utime, stime, cutime, cstime, rss string) string {
		return pid + " (postgres: x (y) z) S " + ppid + " 1 1 0 -1 0 0 0 0 0 " + utime + " " + stime + " " + cutime + " " + cstime + " 20 0 1 0 1 1000 " + rss + " 0\n"
	}
	write(filepath.Join(root, "self", "stat"), stat("1", "0", "0", "0", "0", "0", "1"))
	write(filepath.Join(root, "100", "stat"), stat("100", "1", "10", "5", "100", "50", "10"))
	write(filepath.Join(root, "100", "smaps_rollup"), "Rss: 4000 kB\nPss:   2000 kB\n")
	write(filepath.Join(root, "101", "stat"), stat("101", "100", "30", "20", "0", "0", "20"))
	write(filepath.Join(root, "102", "stat"), stat("102", "100", "1", "1", "0", "0", "30"))
	write(filepath.Join(root, "200", "stat"), stat("200", "1", "999", "999", "0", "0", "999"))
	write(filepath.Join(data, "postmaster.pid"), "100\n/data\n")

	p, err := NewProc(ProcConfig{Root: root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Instance: "local", DataDir: data}
	snap, err := p.snapshot(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	page := int64(os.Getpagesize())
	wantCPU := int64(10 + 5 + 100 + 50 + 30 + 20 + 1 + 1)
	wantMem := 2000*1024 + 20*page + 30*page
	if snap.Postmaster != 100 || snap.Procs != 3 || snap.CPUTicks != wantCPU || snap.MemBytes != wantMem {
		t.Errorf("snapshot %+v, want postmaster 100, 3 procs, %d ticks, %d bytes", snap, wantCPU, wantMem)
	}
	later := snap
	later.At = snap.At.Add(2 * time.Second)
	later.CPUTicks += 100 // one second of CPU over two seconds
	got := p.diff(target, snap, later, snap.At, later.At)
	if len(got) != 2 || got[1].KPI != judge.KPICPU || math.Abs(got[1].Value-0.5) > 1e-9 || got[0].Value != float64(wantMem) {
		t.Errorf("diff = %+v, want cpu 0.5 and memory", got)
	}
	if _, err := NewProc(ProcConfig{Root: filepath.Join(root, "missing")}, nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("missing root: %v", err)
	}
}

// TestProcRealCluster samples the shared test cluster while a query burns
// CPU; the data directory comes from SHOW data_directory.
func TestProcRealCluster(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("proc needs Linux")
	}
	dsn := kpiTestDB(t)
	ctx := context.Background()
	p, err := NewProc(ProcConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	from := time.Now().Add(100 * time.Millisecond)
	to := from.Add(1500 * time.Millisecond)
	go func() {
		_ = sleepUntil(ctx, from)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		for time.Now().Before(to.Add(-100 * time.Millisecond)) {
			_, _ = conn.Exec(ctx, "SELECT count(*) FROM generate_series(1, 300000)")
		}
	}()
	samples, err := p.Collect(ctx, Target{Instance: "shared", DSN: dsn}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	cpu, mem := judge.SelectKPI(samples, judge.KPICPU), judge.SelectKPI(samples, judge.KPIMemory)
	// How much of a core the busy backend gets depends on what else runs
	// on the machine; it is more than nothing and less than all cores.
	if len(cpu) != 1 || cpu[0].Value <= 0.01 || cpu[0].Value > float64(runtime.NumCPU())+0.5 {
		t.Errorf("cpu = %+v, want a busy backend (> 0.01 cores)", cpu)
	}
	if len(mem) != 1 || mem[0].Value < 1<<20 {
		t.Errorf("memory = %+v, want at least 1 MiB", mem)
	}
}
