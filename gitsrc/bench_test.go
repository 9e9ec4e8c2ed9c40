package gitsrc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuMeter sums the CPU time (user+system) of this process and of the
// child processes it waited for (git-upload-pack, the git CLI) over the
// timed parts of a benchmark, and reports it as cpu-ms/op: on a shared,
// overloaded machine it is steadier than wall time.
type cpuMeter struct {
	total, started time.Duration
}

func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

func (m *cpuMeter) start() { m.started = cpuTime() }
func (m *cpuMeter) stop()  { m.total += cpuTime() - m.started }
func (m *cpuMeter) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(m.total.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}

// Benchmark repository: 10,000 commits on main, every other one adding a
// migration (5,000 in one folder), the others touching app code. It is
// generated once with `git fast-import` into a cached temp dir.
const (
	benchCommits    = 10000
	benchMigrations = benchCommits / 2
)

func benchMigration(i int) string {
	return fmt.Sprintf("-- ---\n-- risk: %d\n-- owner: team-%d\n-- ---\n-- +goose Up\nALTER TABLE t%d ADD COLUMN c%d int;\n-- +goose Down\nALTER TABLE t%d DROP COLUMN c%d;\n",
		i%10+1, i%7, i%50, i, i%50, i)
}

// fastImportCommit appends one commit to a fast-import stream.
func fastImportCommit(b *bytes.Buffer, mark int, parentRef string, when time.Time, msg string, path, content string) {
	fmt.Fprintf(b, "commit refs/heads/main\nmark :%d\n", mark)
	fmt.Fprintf(b, "author Ada <ada@example.com> %d +0000\ncommitter Ada <ada@example.com> %d +0000\n", when.Unix(), when.Unix())
	fmt.Fprintf(b, "data %d\n%s\n", len(msg), msg)
	if parentRef != "" {
		fmt.Fprintf(b, "from %s\n", parentRef)
	}
	fmt.Fprintf(b, "M 100644 inline %s\ndata %d\n%s\n", path, len(content), content)
}

func gitCmd(tb testing.TB, dir string, stdin []byte, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// benchOrigin returns the cached bare benchmark repository, building it on
// first use (about 10 s).
func benchOrigin(tb testing.TB) string {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("git not installed")
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("schemacanary-bench-gitsrc-%dx%d-v1", benchMigrations, benchCommits))
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	gitCmd(tb, dir, nil, "init", "-q", "--bare", "-b", "main")
	var s bytes.Buffer
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= benchCommits; i++ {
		parent := ""
		if i > 1 {
			parent = fmt.Sprintf(":%d", i-1)
		}
		when := start.Add(time.Duration(i) * time.Hour)
		if i%2 == 0 {
			v := i / 2
			fastImportCommit(&s, i, parent, when, fmt.Sprintf("Add migration %d (#%d)", v, v),
				fmt.Sprintf("migrations/%05d_change_%d.sql", v, v), benchMigration(v))
		} else {
			fastImportCommit(&s, i, parent, when, fmt.Sprintf("app change %d", i),
				fmt.Sprintf("app/file_%d.go", i%100), fmt.Sprintf("package app // %d\n", i))
		}
	}
	gitCmd(tb, dir, s.Bytes(), "fast-import", "--quiet")
	if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// benchUpstream makes a private copy of the origin (11 MB: one pack) that a
// benchmark may append commits to.
func benchUpstream(b *testing.B) string {
	b.Helper()
	origin := benchOrigin(b)
	up := filepath.Join(b.TempDir(), "up.git")
	if out, err := exec.Command("cp", "-a", origin, up).CombinedOutput(); err != nil {
		b.Fatalf("copy origin: %v\n%s", err, out)
	}
	return up
}

// appendMigration commits migration v to main of the bare repo up.
func appendMigration(b *testing.B, up string, v int) {
	b.Helper()
	var s bytes.Buffer
	fastImportCommit(&s, 1, "refs/heads/main^0", time.Date(2030, 1, 1, 0, 0, v, 0, time.UTC),
		fmt.Sprintf("Add migration %d (#%d)", v, v), fmt.Sprintf("migrations/%05d_change_%d.sql", v, v), benchMigration(v))
	gitCmd(b, up, s.Bytes(), "fast-import", "--quiet")
}

// BenchmarkGitsrcOpenList: open the 10,000-commit repository in place and
// list (parse) the 5,000 migrations at head.
func BenchmarkGitsrcOpenList(b *testing.B) { benchOpenList(b, false) }

// BenchmarkGitsrcCloneList: the same through a fresh go-git mirror (clone,
// as for an https:// remote).
func BenchmarkGitsrcCloneList(b *testing.B) { benchOpenList(b, true) }

// BenchmarkGitsrcCloneGitCLI is the clone's peer: git clone --bare --no-local.
func BenchmarkGitsrcCloneGitCLI(b *testing.B) {
	origin := benchOrigin(b)
	var cpu cpuMeter
	defer cpu.report(b)
	for b.Loop() {
		dir := b.TempDir()
		cpu.start()
		gitCmd(b, dir, nil, "clone", "-q", "--bare", "--no-local", origin, filepath.Join(dir, "m.git"))
		cpu.stop()
	}
}

func benchOpenList(b *testing.B, clone bool) {
	origin := benchOrigin(b)
	ctx := context.Background()
	var cpu cpuMeter
	defer cpu.report(b)
	b.ResetTimer()
	for b.Loop() {
		cpu.start()
		var opts []Option
		if clone {
			opts = append(opts, WithDir(b.TempDir()))
		}
		r, err := Open(ctx, origin, opts...)
		if err != nil {
			b.Fatal(err)
		}
		l, err := r.List(ctx, "")
		if err != nil || len(l.Migrations) != benchMigrations {
			b.Fatalf("%d migrations, %v", len(l.Migrations), err)
		}
		cpu.stop()
		r.Close()
	}
}

// BenchmarkGitsrcChangesFullHistory: Changes("") over all 10,000 commits on
// an opened mirror (5,000 change requests, each attributed to its commit).
func BenchmarkGitsrcChangesFullHistory(b *testing.B) {
	origin := benchOrigin(b)
	ctx := context.Background()
	r, err := Open(ctx, origin)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var cpu cpuMeter
	defer cpu.report(b)
	b.ResetTimer()
	for b.Loop() {
		cpu.start()
		cs, err := r.Changes(ctx, "")
		cpu.stop()
		if err != nil || len(cs.Changes) != benchMigrations || len(cs.Errors) != 0 {
			b.Fatalf("%d changes, %d errors, %v", len(cs.Changes), len(cs.Errors), err)
		}
	}
}

// BenchmarkGitsrcIncrementalPoll: one new commit lands in the repository;
// the poll is Fetch + Changes(previous head) and yields exactly that
// migration. The repository is read in place.
func BenchmarkGitsrcIncrementalPoll(b *testing.B) { benchIncrementalPoll(b, false) }

// BenchmarkGitsrcIncrementalPollMirror: the same poll through a go-git
// mirror, so Fetch runs the git protocol (git-upload-pack for a local
// remote) as for an https:// remote.
func BenchmarkGitsrcIncrementalPollMirror(b *testing.B) { benchIncrementalPoll(b, true) }

func benchIncrementalPoll(b *testing.B, mirror bool) {
	up := benchUpstream(b)
	ctx := context.Background()
	var opts []Option
	if mirror {
		opts = append(opts, WithDir(b.TempDir()))
	}
	r, err := Open(ctx, up, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	prev, _ := r.Head(ctx)
	v := benchMigrations
	var cpu cpuMeter
	defer cpu.report(b)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		v++
		appendMigration(b, up, v)
		b.StartTimer()
		cpu.start()
		if err := r.Fetch(ctx); err != nil {
			b.Fatal(err)
		}
		cs, err := r.Changes(ctx, prev)
		cpu.stop()
		if err != nil || len(cs.Changes) != 1 || cs.Changes[0].Migration.Version != int64(v) {
			b.Fatalf("poll: %+v %v", cs, err)
		}
		prev = cs.Head
	}
}

// BenchmarkGitsrcIncrementalPollGitCLI is the peer: the same poll with the
// git CLI on a bare mirror (git fetch, git diff-tree of the folder, git show
// of the added file), without any parsing.
func BenchmarkGitsrcIncrementalPollGitCLI(b *testing.B) {
	up := benchUpstream(b)
	mirror := filepath.Join(b.TempDir(), "mirror.git")
	gitCmd(b, filepath.Dir(mirror), nil, "clone", "-q", "--mirror", up, mirror)
	prev := gitCmd(b, mirror, nil, "rev-parse", "refs/heads/main")
	v := benchMigrations
	var cpu cpuMeter
	defer cpu.report(b)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		v++
		appendMigration(b, up, v)
		b.StartTimer()
		cpu.start()
		gitCmd(b, mirror, nil, "fetch", "-q", "origin")
		head := gitCmd(b, mirror, nil, "rev-parse", "refs/heads/main")
		diff := gitCmd(b, mirror, nil, "diff-tree", "-r", "--name-status", prev, head, "--", "migrations")
		added := strings.Fields(diff)
		if len(added) != 2 || added[0] != "A" {
			b.Fatalf("diff %q", diff)
		}
		gitCmd(b, mirror, nil, "show", head+":"+added[1])
		cpu.stop()
		prev = head
	}
}

// BenchmarkGitsrcChangesAfterOneCommit: Changes(previous head) after one new
// commit, the fetch excluded: what schemacanary itself costs per poll.
func BenchmarkGitsrcChangesAfterOneCommit(b *testing.B) {
	up := benchUpstream(b)
	ctx := context.Background()
	appendMigration(b, up, benchMigrations+1)
	r, err := Open(ctx, up)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	head, _ := r.Head(ctx)
	prev, err := r.commit(head + "~1")
	if err != nil {
		b.Fatal(err)
	}
	var cpu cpuMeter
	defer cpu.report(b)
	b.ResetTimer()
	for b.Loop() {
		cpu.start()
		cs, err := r.Changes(ctx, prev.Hash.String())
		cpu.stop()
		if err != nil || len(cs.Changes) != 1 {
			b.Fatalf("%+v %v", cs, err)
		}
	}
}

// BenchmarkGitsrcPollNoChange: the common poll, nothing new upstream.
func BenchmarkGitsrcPollNoChange(b *testing.B) {
	origin := benchOrigin(b)
	ctx := context.Background()
	r, err := Open(ctx, origin)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	head, _ := r.Head(ctx)
	var cpu cpuMeter
	defer cpu.report(b)
	b.ResetTimer()
	for b.Loop() {
		cpu.start()
		if err := r.Fetch(ctx); err != nil {
			b.Fatal(err)
		}
		cs, err := r.Changes(ctx, head)
		cpu.stop()
		if err != nil || len(cs.Changes) != 0 {
			b.Fatalf("%+v %v", cs, err)
		}
	}
}
