package gitsrc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// repairRefs removes the empty loose ref files under a mirror's refs/
// folder and returns their names. go-git writes a ref by truncating its
// file and then writing the hash, so a process killed in between leaves an
// empty file, and every later open fails with "ref file is empty". In a
// mirror every ref can be recovered: branches and pull-request heads come
// back with the next fetch, the audit branch's tracking ref with the next
// audit fetch, and the local audit branch is rebuilt from the remote's tip
// (the control store's outbox records again what a crash left unpushed).
func repairRefs(dir string) ([]string, error) {
	root := filepath.Join(dir, "refs")
	var removed []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > 0 {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		removed = append(removed, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("repair refs in %s: %w", dir, err)
	}
	return removed, nil
}
