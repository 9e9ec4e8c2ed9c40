package gitsrc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// rawTree returns the encoded bytes of a tree object (nil for the zero
// hash), without decoding its entries. The last tree read is kept: the next
// poll starts from it, and after a re-open its delta chain would otherwise
// be resolved again. Called with r.mu held; callers must not modify it.
func (r *Repo) rawTree(h plumbing.Hash) ([]byte, error) {
	if h.IsZero() {
		return nil, nil
	}
	if h == r.lastTree.hash {
		return r.lastTree.raw, nil
	}
	b, err := r.readRawTree(h)
	if err != nil {
		return nil, err
	}
	r.lastTree.hash, r.lastTree.raw = h, b
	return b, nil
}

func (r *Repo) readRawTree(h plumbing.Hash) ([]byte, error) {
	o, err := r.git.Storer.EncodedObject(plumbing.TreeObject, h)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", h, err)
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", h, err)
	}
	defer rd.Close()
	b := make([]byte, 0, o.Size())
	buf := bytes.NewBuffer(b)
	if _, err := io.Copy(buf, rd); err != nil {
		return nil, fmt.Errorf("tree %s: %w", h, err)
	}
	return buf.Bytes(), nil
}

// rawEntry is one entry of an encoded tree: "<mode> <name>\x00<20-byte hash>".
type rawEntry struct {
	mode, name, hash []byte
}

func (e rawEntry) isDir() bool { return string(e.mode) == "40000" }

func (e rawEntry) isFile() bool {
	m := string(e.mode)
	return m == "100644" || m == "100755" || m == "100664" || m == "644"
}

var errBadTree = errors.New("malformed tree object")

// nextRawEntry splits the first entry off an encoded tree.
func nextRawEntry(b []byte) (rawEntry, []byte, error) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return rawEntry{}, nil, errBadTree
	}
	nul := bytes.IndexByte(b[sp+1:], 0)
	if nul < 0 || sp+1+nul+1+20 > len(b) {
		return rawEntry{}, nil, errBadTree
	}
	end := sp + 1 + nul
	return rawEntry{mode: b[:sp], name: b[sp+1 : end], hash: b[end+1 : end+21]}, b[end+21:], nil
}

// gitOrder compares entries the way Git sorts a tree: by name, with a
// directory's name followed by "/".
func gitOrder(a, b rawEntry) int {
	n := min(len(a.name), len(b.name))
	if c := bytes.Compare(a.name[:n], b.name[:n]); c != 0 {
		return c
	}
	ca, cb := tailByte(a, n), tailByte(b, n)
	switch {
	case ca < cb:
		return -1
	case ca > cb:
		return 1
	}
	return 0
}

func tailByte(e rawEntry, n int) byte {
	switch {
	case n < len(e.name):
		return e.name[n]
	case e.isDir():
		return '/'
	}
	return 0
}

// diffRawTrees merge-joins two encoded folder trees (both in Git order) and
// returns the candidate migration files that are new or changed in next, and
// those gone from prev. Unchanged entries cost a byte comparison and no
// allocation, so a commit that adds one file to a folder of thousands is
// cheap.
func diffRawTrees(dir string, prev, next []byte) (changed, gone []fileEntry, err error) {
	var a, b rawEntry
	haveA, haveB := false, false
	for {
		if !haveA && len(prev) > 0 {
			if a, prev, err = nextRawEntry(prev); err != nil {
				return nil, nil, err
			}
			haveA = true
		}
		if !haveB && len(next) > 0 {
			if b, next, err = nextRawEntry(next); err != nil {
				return nil, nil, err
			}
			haveB = true
		}
		switch {
		case !haveA && !haveB:
			return changed, gone, nil
		case haveA && (!haveB || gitOrder(a, b) < 0):
			if e, ok := rawFileEntry(dir, a); ok {
				gone = append(gone, e)
			}
			haveA = false
		case haveB && (!haveA || gitOrder(a, b) > 0):
			if e, ok := rawFileEntry(dir, b); ok {
				changed = append(changed, e)
			}
			haveB = false
		default: // same name
			if !bytes.Equal(a.hash, b.hash) || !bytes.Equal(a.mode, b.mode) {
				if e, ok := rawFileEntry(dir, b); ok {
					changed = append(changed, e)
				} else if e, ok := rawFileEntry(dir, a); ok {
					gone = append(gone, e) // a file turned into something else
				}
			}
			haveA, haveB = false, false
		}
	}
}

// rawFileEntry converts a candidate migration file entry; ok is false for
// directories, links and files goose ignores.
func rawFileEntry(dir string, e rawEntry) (fileEntry, bool) {
	if !e.isFile() {
		return fileEntry{}, false
	}
	name := string(e.name)
	if !isCandidate(name) {
		return fileEntry{}, false
	}
	fe := fileEntry{name: name, path: path.Join(dir, name), hash: plumbing.Hash(e.hash)}
	if v, _, err := migration.ParseVersion(name); err == nil {
		fe.version = v
	} else if strings.HasSuffix(name, ".go") {
		num, _, _ := strings.Cut(name, "_")
		fe.version, _ = strconv.ParseInt(num, 10, 64)
	}
	return fe, true
}
