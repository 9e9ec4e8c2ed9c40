package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// Listing is the migrations folder at one commit.
type Listing struct {
	// Commit is the full sha the listing was taken at.
	Commit string `json:"commit"`
	// Migrations are the valid files, in version order.
	Migrations []*migration.Migration `json:"migrations"`
	// Errors are the files that fail to parse or validate, and duplicate
	// versions, in file-name order.
	Errors []*migration.MigrationError `json:"errors,omitempty"`
}

// List parses every migration in the folder at rev (a sha, an abbreviated
// sha or a ref; "" = the watched branch's head). Files are validated strictly
// (ParseMigration); other files in the folder (README.md, helpers.go without
// a version) are ignored, as goose ignores them. Parsed files are cached by
// blob hash, so listing the next commit only parses what changed.
func (r *Repo) List(ctx context.Context, rev string) (*Listing, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.revCommit(rev)
	if err != nil {
		return nil, err
	}
	entries, err := r.folderEntries(c)
	if err != nil {
		return nil, err
	}
	out := &Listing{Commit: c.Hash.String()}
	seen := map[int64]string{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, merr := r.parseBlob(e)
		if merr != nil {
			out.Errors = append(out.Errors, merr)
		}
		v := e.version
		if v == 0 {
			continue
		}
		if prev, dup := seen[v]; dup {
			out.Errors = append(out.Errors, migration.Errorf(e.path, 0, migration.ErrDuplicateVersion, "version %d is also used by %s", v, prev))
			continue
		}
		seen[v] = e.path
		if m != nil {
			out.Migrations = append(out.Migrations, m)
		}
	}
	sort.SliceStable(out.Migrations, func(i, j int) bool { return out.Migrations[i].Version < out.Migrations[j].Version })
	return out, nil
}

func (r *Repo) revCommit(rev string) (*object.Commit, error) {
	if rev == "" {
		h, err := r.headHash()
		if err != nil {
			return nil, err
		}
		rev = h.String()
	}
	return r.commit(rev)
}

// fileEntry is one candidate migration file in the folder tree.
type fileEntry struct {
	name    string // base name
	path    string // repository-relative
	hash    plumbing.Hash
	version int64 // 0 when the name has none (reported as ErrBadFilename)
}

// isCandidate reports whether goose would look at the file: *.sql, and *.go
// files (not tests) whose name carries a version.
func isCandidate(name string) bool {
	switch {
	case strings.HasSuffix(name, ".sql"):
		return true
	case strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go"):
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		return ok && err == nil && v > 0
	}
	return false
}

// folderHash returns the hash of the migrations folder's tree in c, or the
// zero hash when the folder does not exist there. It decodes only the trees
// on the folder's path, not the folder itself.
func (r *Repo) folderHash(c *object.Commit) (plumbing.Hash, error) {
	if r.opts.migDir == "" {
		return c.TreeHash, nil
	}
	root, err := c.Tree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("tree of %s: %w", c.Hash, err)
	}
	e, err := root.FindEntry(r.opts.migDir)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%s in %s: %w", r.opts.migDir, c.Hash, err)
	}
	if e.Mode != filemode.Dir {
		return plumbing.ZeroHash, nil
	}
	return e.Hash, nil
}

// entriesOf lists the candidate files of a folder tree, by name. The last
// few folders are cached by tree hash: a poll's baseline is the previous
// poll's head, so only the new folder tree is decoded. Callers must not
// modify the returned slice.
func (r *Repo) entriesOf(tree plumbing.Hash) ([]fileEntry, error) {
	if tree.IsZero() {
		return nil, nil
	}
	if es, ok := r.folders.get(tree); ok {
		return es, nil
	}
	es, err := r.decodeEntries(tree)
	if err != nil {
		return nil, err
	}
	r.folders.put(tree, es)
	return es, nil
}

func (r *Repo) decodeEntries(tree plumbing.Hash) ([]fileEntry, error) {
	t, err := r.git.TreeObject(tree)
	if err != nil {
		return nil, fmt.Errorf("folder tree %s: %w", tree, err)
	}
	out := make([]fileEntry, 0, len(t.Entries))
	for _, e := range t.Entries {
		if (e.Mode != filemode.Regular && e.Mode != filemode.Executable && e.Mode != filemode.Deprecated) || !isCandidate(e.Name) {
			continue
		}
		fe := fileEntry{name: e.Name, path: path.Join(r.opts.migDir, e.Name), hash: e.Hash}
		if v, _, err := migration.ParseVersion(e.Name); err == nil {
			fe.version = v
		} else if strings.HasSuffix(e.Name, ".go") {
			num, _, _ := strings.Cut(e.Name, "_")
			fe.version, _ = strconv.ParseInt(num, 10, 64)
		}
		out = append(out, fe)
	}
	return out, nil
}

func (r *Repo) folderEntries(c *object.Commit) ([]fileEntry, error) {
	h, err := r.folderHash(c)
	if err != nil {
		return nil, err
	}
	return r.entriesOf(h)
}

// readBlob returns a blob's bytes; a blob above the size limit is not
// read: its error wraps ErrTooLarge (a *MigrationError naming file).
func (r *Repo) readBlob(file string, h plumbing.Hash) ([]byte, error) {
	b, err := r.git.BlobObject(h)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	if err := migration.CheckFileSize(file, b.Size, r.opts.maxFileBytes); err != nil {
		return nil, err
	}
	rd, err := b.Reader()
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	return data, nil
}

// parseBlob parses a file strictly, through the cache. A read failure is
// reported as a MigrationError too, so one broken object does not hide the
// rest of the folder.
func (r *Repo) parseBlob(e fileEntry) (*migration.Migration, *migration.MigrationError) {
	key := cacheKey{blob: e.hash, path: e.path}
	if res, ok := r.mc.get(key); ok {
		return res.m, res.err
	}
	var res parseResult
	if data, err := r.readBlob(e.path, e.hash); err != nil {
		if !errors.As(err, &res.err) {
			res.err = migration.Errorf(e.path, 0, migration.ErrGooseSyntax, "read: %v", err)
		}
	} else if m, err := migration.ParseMigration(e.path, data); err != nil {
		var me *migration.MigrationError
		if !errors.As(err, &me) {
			me = migration.Errorf(e.path, 0, migration.ErrGooseSyntax, "%v", err)
		}
		res.err = me
	} else {
		res.m = m
	}
	r.mc.put(key, res)
	return res.m, res.err
}

type cacheKey struct {
	blob plumbing.Hash
	path string
}

type parseResult struct {
	m   *migration.Migration
	err *migration.MigrationError
}

// migrationCache holds parse results by (blob, path). It is bounded: when
// full it starts over, so memory does not grow with history.
type migrationCache struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]parseResult
}

func newMigrationCache(max int) *migrationCache {
	return &migrationCache{max: max, m: make(map[cacheKey]parseResult)}
}

func (c *migrationCache) get(k cacheKey) (parseResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[k]
	return r, ok
}

func (c *migrationCache) put(k cacheKey, r parseResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.m = make(map[cacheKey]parseResult)
	}
	c.m[k] = r
}

// folderCache keeps the entries of the last few folder trees (LRU).
type folderCache struct {
	max   int
	order []plumbing.Hash // most recent last
	m     map[plumbing.Hash][]fileEntry
}

func newFolderCache(max int) *folderCache {
	return &folderCache{max: max, m: make(map[plumbing.Hash][]fileEntry)}
}

func (c *folderCache) get(h plumbing.Hash) ([]fileEntry, bool) {
	es, ok := c.m[h]
	if ok {
		c.touch(h)
	}
	return es, ok
}

func (c *folderCache) put(h plumbing.Hash, es []fileEntry) {
	if _, ok := c.m[h]; !ok && len(c.order) >= c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[h] = es
	c.touch(h)
}

func (c *folderCache) touch(h plumbing.Hash) {
	for i, o := range c.order {
		if o == h {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	c.order = append(c.order, h)
}
