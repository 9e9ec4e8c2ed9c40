package gitsrc

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// This file builds Git objects (blobs, trees, commits) straight in a
// repository's object store, without a worktree, so the audit branch and
// revert branches can be written in bare clones and in memory.

// treeChange sets (or, with Delete, removes) one file of a tree.
type treeChange struct {
	Hash   plumbing.Hash
	Mode   filemode.FileMode
	Delete bool
}

// writeBlob stores data as a blob and returns its hash.
func putBlob(s storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write blob: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write blob: %w", err)
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write blob: %w", err)
	}
	return s.SetEncodedObject(obj)
}

// editTree returns the hash of base (nil = empty tree) with changes applied.
// Keys of changes are slash-separated paths; directories left empty vanish.
func putTree(s storer.EncodedObjectStorer, base *object.Tree, changes map[string]treeChange) (plumbing.Hash, error) {
	entries := map[string]object.TreeEntry{}
	if base != nil {
		for _, e := range base.Entries {
			entries[e.Name] = e
		}
	}
	sub := map[string]map[string]treeChange{}
	for p, c := range changes {
		p = strings.Trim(p, "/")
		dir, rest, nested := strings.Cut(p, "/")
		if !nested {
			if c.Delete {
				delete(entries, p)
				continue
			}
			mode := c.Mode
			if mode == 0 {
				mode = filemode.Regular
			}
			entries[p] = object.TreeEntry{Name: p, Mode: mode, Hash: c.Hash}
			continue
		}
		if sub[dir] == nil {
			sub[dir] = map[string]treeChange{}
		}
		sub[dir][rest] = c
	}
	for dir, cs := range sub {
		var child *object.Tree
		if e, ok := entries[dir]; ok && e.Mode == filemode.Dir {
			t, err := object.GetTree(s, e.Hash)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("read tree %s: %w", dir, err)
			}
			child = t
		}
		h, err := putTree(s, child, cs)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if h == emptyTreeHash {
			delete(entries, dir)
			continue
		}
		entries[dir] = object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h}
	}
	list := make([]object.TreeEntry, 0, len(entries))
	for _, e := range entries {
		list = append(list, e)
	}
	// Git orders entries by name, comparing a directory as if its name
	// ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(list, func(i, j int) bool { return key(list[i]) < key(list[j]) })
	t := &object.Tree{Entries: list}
	obj := s.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode tree: %w", err)
	}
	return s.SetEncodedObject(obj)
}

// emptyTreeHash is the well-known hash of Git's empty tree.
var emptyTreeHash = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// writeCommit stores a commit and returns its hash.
func putCommit(s storer.EncodedObjectStorer, tree plumbing.Hash, parents []plumbing.Hash, msg string, sig object.Signature) (plumbing.Hash, error) {
	c := &object.Commit{
		Author:       sig,
		Committer:    sig,
		Message:      msg,
		TreeHash:     tree,
		ParentHashes: parents,
	}
	obj := s.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode commit: %w", err)
	}
	return s.SetEncodedObject(obj)
}

// readTreeFile returns the contents of path in t; ok is false when absent.
func treeFileBytes(t *object.Tree, path string) (data []byte, ok bool, err error) {
	if t == nil {
		return nil, false, nil
	}
	f, err := t.File(path)
	if errors.Is(err, object.ErrFileNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	r, err := f.Reader()
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	defer r.Close()
	data, err = io.ReadAll(r)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	return data, true, nil
}

// treeEntryAt returns the entry for a file path in t (nil tree or absent
// path: ok false).
func treeFileEntry(t *object.Tree, path string) (object.TreeEntry, bool) {
	if t == nil {
		return object.TreeEntry{}, false
	}
	e, err := t.FindEntry(path)
	if err != nil {
		return object.TreeEntry{}, false
	}
	return *e, true
}

// signature is the author/committer of schemacanary's commits.
func auditSignature(name, email string, now time.Time) object.Signature {
	return object.Signature{Name: name, Email: email, When: now.UTC().Truncate(time.Second)}
}
