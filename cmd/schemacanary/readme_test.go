package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeListsEveryCommand keeps README.md's command table in step with
// the CLI: a reader finds every command there.
func TestReadmeListsEveryCommand(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, c := range newRootCmd().Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if !strings.Contains(readme, "`schemacanary "+c.Name()) {
			t.Errorf("README.md does not show `schemacanary %s`", c.Name())
		}
	}
}
