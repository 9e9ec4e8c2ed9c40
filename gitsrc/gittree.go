package gitsrc

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// This file builds Git objects (blobs, trees, commits) straight in a
// repository's object store, without a worktree, so the audit branch and
// revert branches can be written in bare clones and in memory.

// TreeChange sets (or, with Delete, removes) one file of a tree.
type TreeChange struct {
	Hash   plumbing.Hash
	Mode   filemode.FileMode
	Delete bool
}

// PutBlob stores data as a blob and returns its hash.
func PutBlob(s storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
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

// PutTree returns the hash of base (nil = empty tree) with changes applied.
// Keys of changes are slash-separated paths; directories left empty vanish.
func PutTree(s storer.EncodedObjectStorer, base *object.Tree, changes map[string]TreeChange) (plumbing.Hash, error) {
	entries := map[string]object.TreeEntry{}
	if base != nil {
		for _, e := range base.Entries {
			entries[e.Name] = e
		}
	}
	sub := map[string]map[string]TreeChange{}
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
			sub[dir] = map[string]TreeChange{}
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
		h, err := PutTree(s, child, cs)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if h == EmptyTreeHash {
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

// EmptyTreeHash is the well-known hash of Git's empty tree.
var EmptyTreeHash = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// PutCommit stores a commit and returns its hash.
func PutCommit(s storer.EncodedObjectStorer, tree plumbing.Hash, parents []plumbing.Hash, msg string, sig object.Signature) (plumbing.Hash, error) {
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

// TreeFileBytes returns the contents of path in t; ok is false when absent.
func TreeFileBytes(t *object.Tree, path string) (data []byte, ok bool, err error) {
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

// TreeFileEntry returns the entry for a file path in t (nil tree or absent
// path: ok false).
func TreeFileEntry(t *object.Tree, path string) (object.TreeEntry, bool) {
	if t == nil {
		return object.TreeEntry{}, false
	}
	e, err := t.FindEntry(path)
	if err != nil {
		return object.TreeEntry{}, false
	}
	return *e, true
}

// TrackingRef is where schemacanary keeps its own copy of a remote branch:
// a private namespace, so the refs/remotes/ refs that Repo.Fetch maintains
// are never moved by the forge or the audit writer.
func TrackingRef(remote, branch string) plumbing.ReferenceName {
	return plumbing.ReferenceName("refs/schemacanary/remotes/" + remote + "/" + branch)
}
