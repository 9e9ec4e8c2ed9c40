package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"
)

// SampleStore keeps what KPI sources need to answer a window twice and to
// resume after a restart: collected samples and cumulative-counter
// snapshots, as opaque values under string keys. Implementations are safe
// for concurrent use.
type SampleStore interface {
	// Get returns the value stored under key; ok is false when there is none.
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Put stores val under key, replacing any previous value.
	Put(ctx context.Context, key string, val []byte) error
}

var (
	_ SampleStore = (*MemoryStore)(nil)
	_ SampleStore = (*DirStore)(nil)
)

// MemoryStore is a SampleStore in memory holding at most a fixed number of
// entries (the oldest written go first), so a long-running daemon does not
// grow with history. It does not survive a restart.
type MemoryStore struct {
	mu    sync.Mutex
	max   int
	vals  map[string][]byte
	order []string
}

// NewMemoryStore returns a store of at most maxEntries values (default
// 100000 when <= 0).
func NewMemoryStore(maxEntries int) *MemoryStore {
	if maxEntries <= 0 {
		maxEntries = 100000
	}
	return &MemoryStore{max: maxEntries, vals: map[string][]byte{}}
}

// Get implements SampleStore.
func (m *MemoryStore) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[key]
	return v, ok, nil
}

// Put implements SampleStore.
func (m *MemoryStore) Put(_ context.Context, key string, val []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.vals[key]; !ok {
		m.order = append(m.order, key)
	}
	m.vals[key] = append([]byte(nil), val...)
	for len(m.order) > m.max {
		delete(m.vals, m.order[0])
		m.order = m.order[1:]
	}
	return nil
}

// DirStore is a SampleStore of one file per key in a directory; it survives
// a restart of the process. Writes are atomic (temp file + rename).
type DirStore struct {
	dir string
}

// NewDirStore creates dir if needed and returns a store in it.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kpi store %s: %w", dir, err)
	}
	return &DirStore{dir: dir}, nil
}

func (d *DirStore) path(key string) string { return filepath.Join(d.dir, url.PathEscape(key)) }

// Get implements SampleStore.
func (d *DirStore) Get(_ context.Context, key string) ([]byte, bool, error) {
	b, err := os.ReadFile(d.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("kpi store get %s: %w", key, err)
	}
	return b, true, nil
}

// Put implements SampleStore.
func (d *DirStore) Put(_ context.Context, key string, val []byte) error {
	f, err := os.CreateTemp(d.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("kpi store put %s: %w", key, err)
	}
	if _, err := f.Write(val); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("kpi store put %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("kpi store put %s: %w", key, err)
	}
	if err := os.Rename(f.Name(), d.path(key)); err != nil {
		return fmt.Errorf("kpi store put %s: %w", key, err)
	}
	return nil
}

// windowKey names the samples of one source, instance and window.
func windowKey(source, instance string, from, to time.Time) string {
	return fmt.Sprintf("%s/samples/%s/%d-%d", source, instance, from.UnixNano(), to.UnixNano())
}

// snapKey names a cumulative snapshot of one source and instance at t.
func snapKey(source, instance string, t time.Time) string {
	return fmt.Sprintf("%s/snap/%s/%d", source, instance, t.UnixNano())
}

func loadJSON(ctx context.Context, st SampleStore, key string, v any) (bool, error) {
	b, ok, err := st.Get(ctx, key)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("kpi store %s: %w", key, err)
	}
	return true, nil
}

func saveJSON(ctx context.Context, st SampleStore, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("kpi store %s: %w", key, err)
	}
	return st.Put(ctx, key, b)
}

// sleepUntil waits until t or ctx's end.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// passive implements Collect for sources that read cumulative counters:
// a snapshot at from (stored by the previous window, or taken now) and one
// at to, differenced. S is the snapshot type, stored as JSON.
type passive[S any] struct {
	source string
	store  SampleStore
	// slack is how late after from a missing start snapshot may still be
	// taken (the window then starts a little late).
	slack time.Duration
	take  func(ctx context.Context, t Target) (S, error)
	diff  func(t Target, prev, cur S, from, to time.Time) []judge.Sample
}

func (p *passive[S]) collect(ctx context.Context, t Target, from, to time.Time) ([]judge.Sample, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("%s %s: empty window %s..%s", p.source, t.Instance, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	wk := windowKey(p.source, t.Instance, from, to)
	var out []judge.Sample
	if ok, err := loadJSON(ctx, p.store, wk, &out); err != nil || ok {
		return out, err
	}
	var prev S
	ok, err := loadJSON(ctx, p.store, snapKey(p.source, t.Instance, from), &prev)
	if err != nil {
		return nil, err
	}
	if !ok {
		now := time.Now()
		if !to.After(now) || now.After(from.Add(p.slack)) && !to.After(now.Add(p.slack)) {
			return nil, fmt.Errorf("%s %s: %w", p.source, t.Instance, ErrWindowLost)
		}
		if err := sleepUntil(ctx, from); err != nil {
			return nil, err
		}
		if prev, err = p.take(ctx, t); err != nil {
			return nil, fmt.Errorf("%s %s: snapshot: %w", p.source, t.Instance, err)
		}
		if err := saveJSON(ctx, p.store, snapKey(p.source, t.Instance, from), prev); err != nil {
			return nil, err
		}
	}
	if time.Now().After(to.Add(p.slack)) {
		return nil, fmt.Errorf("%s %s: %w", p.source, t.Instance, ErrWindowLost)
	}
	if err := sleepUntil(ctx, to); err != nil {
		return nil, err
	}
	cur, err := p.take(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("%s %s: snapshot: %w", p.source, t.Instance, err)
	}
	if err := saveJSON(ctx, p.store, snapKey(p.source, t.Instance, to), cur); err != nil {
		return nil, err
	}
	out = p.diff(t, prev, cur, from, to)
	if out == nil {
		out = []judge.Sample{}
	}
	return out, saveJSON(ctx, p.store, wk, out)
}
