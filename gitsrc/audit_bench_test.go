package gitsrc

import (
	"context"
	"fmt"
	"log/slog"

	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
)

// BenchmarkAuditRecord measures one transition written to the audit branch
// (fetch, commit, push to a local bare remote) after `prior` transitions,
// against the same write without a remote.
func BenchmarkAuditRecord(b *testing.B) {
	for _, remote := range []bool{false, true} {
		for _, prior := range []int{10, 200, 1000} {
			b.Run(fmt.Sprintf("remote=%v/prior=%d", remote, prior), func(b *testing.B) {
				ctx := context.Background()
				dir := b.TempDir()
				repo := benchClone(b, dir)
				opts := []AuditOption{WithAuditLogger(slog.New(slog.DiscardHandler))}
				if !remote {
					opts = append(opts, WithAuditRemote(""))
				}
				a, err := NewAudit(repo, opts...)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				next := func() {
					n++
					if _, err := a.Record(ctx, ChangeRecord{Version: int64(n%50 + 1)}, Transition{From: fmt.Sprintf("s%d", n-1), To: fmt.Sprintf("s%d", n)}); err != nil {
						b.Fatal(err)
					}
				}
				for i := 0; i < prior; i++ {
					next()
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					next()
				}
			})
		}
	}
}

func benchClone(b *testing.B, dir string) *git.Repository {
	b.Helper()
	remote := b.TempDir()
	if _, err := git.PlainInit(remote, true); err != nil {
		b.Fatal(err)
	}
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{remote}}); err != nil {
		b.Fatal(err)
	}
	return repo
}
