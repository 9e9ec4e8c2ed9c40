package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/audit"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/spf13/cobra"
)

type historyFlags struct {
	repo     string
	branch   string
	format   string
	tokenEnv string
	file     bool
}

func newHistoryCmd() *cobra.Command {
	var f historyFlags
	cmd := &cobra.Command{
		Use:   "history [VERSION] --repo PATH|URL",
		Short: "Print the audit timeline of one change or of all changes",
		Long: `history reads the audit branch (schemacanary-audit) that the daemon writes: one commit
per state transition of a change request, with trailers Change-Version, From, State,
Instance, Step, Actor and At. It prints the transitions oldest first, so it is the same
story as

  git log --reverse schemacanary-audit

With VERSION only that change's transitions are printed; --file also prints the change's
Markdown record (changes/VERSION.md: prediction, decision, per-instance timeline, KPI
verdicts with a mermaid chart, rollback).

--repo is a local path (a clone or a bare repository) or a URL; a URL is fetched into
memory. For a private HTTPS repository put a token in an environment variable and name
it with --token-env. Exit status 1 when there is no audit branch or no entry for VERSION.`,
		Example: `  # the whole timeline of the demo repository
  schemacanary history --repo /tmp/schemacanary-demo/repo.git

  # one change, with its Markdown record, from GitHub
  GITHUB_TOKEN=ghp_… schemacanary history 42 --repo https://github.com/acme/db.git \
      --token-env GITHUB_TOKEN --file

  # machine-readable
  schemacanary history --repo . --format json | jq '.[] | select(.to=="rolled_back")'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", "", "repository: local path, file:// or https:// URL (required)")
	fl.StringVar(&f.branch, "branch", audit.AuditBranch, "audit branch")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	fl.StringVar(&f.tokenEnv, "token-env", "", "environment variable holding an HTTPS token")
	fl.BoolVar(&f.file, "file", false, "with VERSION, also print the change's Markdown record")
	_ = cmd.MarkFlagRequired("repo") // fails only for a flag not defined just above
	return cmd
}

func runHistory(cmd *cobra.Command, f historyFlags, args []string) error {
	var version int64
	if len(args) == 1 {
		v, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || v <= 0 {
			return &exitError{code: statusError, msg: fmt.Sprintf("history: VERSION %q is not a positive number", args[0])}
		}
		version = v
	}
	if f.format != "text" && f.format != "json" {
		return &exitError{code: statusError, msg: fmt.Sprintf("history: --format %q: want text or json", f.format)}
	}
	opts := []audit.AuditOption{audit.WithAuditBranch(f.branch)}
	if f.tokenEnv != "" {
		tok := os.Getenv(f.tokenEnv)
		if tok == "" {
			return &exitError{code: statusError, msg: fmt.Sprintf("history: --token-env: $%s is empty", f.tokenEnv)}
		}
		var auth transport.AuthMethod = &githttp.BasicAuth{Username: "x-access-token", Password: tok}
		opts = append(opts, audit.WithAuditAuth(auth))
	}
	ctx := cmd.Context()
	aud, err := audit.OpenAudit(ctx, f.repo, opts...)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	trs, err := aud.History(ctx, version)
	if errors.Is(err, audit.ErrNoAudit) {
		return &exitError{code: statusFindings, msg: fmt.Sprintf("history: %s has no %s branch", f.repo, f.branch)}
	}
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	out := cmd.OutOrStdout()
	if f.format == "json" {
		if trs == nil {
			trs = []audit.Transition{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(trs); err != nil {
			return fmt.Errorf("history: %w", err)
		}
	} else {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "AT\tCHANGE\tFROM\tTO\tINSTANCE\tSTEP\tREASON")
		for _, t := range trs {
			from := t.From
			if from == "" {
				from = "-"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", t.At.UTC().Format(time.RFC3339), t.Version, from, t.To, dash(t.Instance), dash(t.Step), t.Reason)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("history: %w", err)
		}
	}
	if version > 0 && f.file {
		doc, ok, err := aud.ReadChange(ctx, version)
		if err != nil {
			return fmt.Errorf("history: %w", err)
		}
		if ok {
			fmt.Fprintf(out, "\n%s", doc)
		}
	}
	if version > 0 && len(trs) == 0 {
		return &exitError{code: statusFindings, msg: fmt.Sprintf("history: no audit entries for change %d", version)}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
