package demo

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is the demo's Git hosting: a bare repository (what the daemon
// watches, like a GitHub remote) and a working clone the demo's "developers"
// push from.
type Repo struct {
	// Bare is the bare repository's path; its file URL is the repo.url.
	Bare string
	work *git.Repository
	dir  string
	pr   int
}

// author is who merges the demo's pull requests.
type author struct{ name, email string }

var (
	baseAuthor = author{"Dana Lee", "dana@shop.example"}
)

// newRepo creates the bare repository and a clone with the base history:
// every file of examples/migrations under migrations/, in one commit on main.
func newRepo(ctx context.Context, dir string, base fs.FS) (*Repo, error) {
	r := &Repo{Bare: filepath.Join(dir, "shop-db.git"), dir: filepath.Join(dir, "work"), pr: 100}
	main := plumbing.NewBranchReferenceName("main")
	if _, err := git.PlainInitWithOptions(r.Bare, &git.PlainInitOptions{Bare: true, InitOptions: git.InitOptions{DefaultBranch: main}}); err != nil {
		return nil, fmt.Errorf("demo: init bare repo: %w", err)
	}
	w, err := git.PlainInitWithOptions(r.dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: main}})
	if err != nil {
		return nil, fmt.Errorf("demo: init work repo: %w", err)
	}
	r.work = w
	if _, err := w.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.Bare}}); err != nil {
		return nil, fmt.Errorf("demo: add remote: %w", err)
	}
	readme := "# shop-db\n\nThe shop's PostgreSQL schema as goose migrations, deployed by schemacanary.\n"
	if err := os.WriteFile(filepath.Join(r.dir, "README.md"), []byte(readme), 0o644); err != nil {
		return nil, err
	}
	files, err := fs.Glob(base, "*.sql")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(r.dir, "migrations"), 0o755); err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := fs.ReadFile(base, f)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(r.dir, "migrations", f), b, 0o644); err != nil {
			return nil, err
		}
	}
	if _, err := r.commit(ctx, baseAuthor, "Shop schema: customers, products, orders, payments", "README.md", "migrations"); err != nil {
		return nil, err
	}
	return r, nil
}

// URL is the clone URL of the bare repository.
func (r *Repo) URL() string { return "file://" + r.Bare }

// Push merges one migration file as a squash-merged pull request and pushes
// it; it returns the PR number and the commit.
func (r *Repo) Push(ctx context.Context, who author, title, file string, src []byte) (int, string, error) {
	r.pr++
	rel := path.Join("migrations", file)
	if err := os.WriteFile(filepath.Join(r.dir, rel), src, 0o644); err != nil {
		return 0, "", err
	}
	sha, err := r.commit(ctx, who, fmt.Sprintf("%s (#%d)", title, r.pr), rel)
	return r.pr, sha, err
}

func (r *Repo) commit(ctx context.Context, who author, msg string, paths ...string) (string, error) {
	wt, err := r.work.Worktree()
	if err != nil {
		return "", err
	}
	for _, p := range paths {
		if _, err := wt.Add(p); err != nil {
			return "", fmt.Errorf("demo: git add %s: %w", p, err)
		}
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: who.name, Email: who.email, When: time.Now()}})
	if err != nil {
		return "", fmt.Errorf("demo: git commit: %w", err)
	}
	err = r.work.PushContext(ctx, &git.PushOptions{RemoteName: "origin",
		RefSpecs: []config.RefSpec{"refs/heads/main:refs/heads/main"}})
	if err != nil && err != git.NoErrAlreadyUpToDate {
		return "", fmt.Errorf("demo: git push: %w", err)
	}
	return h.String(), nil
}

// branchExists reports whether the bare repository has a branch.
func (r *Repo) branchExists(name string) bool {
	bare, err := git.PlainOpen(r.Bare)
	if err != nil {
		return false
	}
	_, err = bare.Reference(plumbing.NewBranchReferenceName(name), true)
	return err == nil
}
