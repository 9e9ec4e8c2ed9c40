package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/gitsrc"
)

type changesFlags struct {
	repo      string
	branch    string
	dir       string
	since     string
	format    string
	tokenEnv  string
	user      string
	cacheDir  string
	proposals bool
}

// changesOutput is the JSON document `schemacanary changes --format json` prints.
type changesOutput struct {
	Repo      string                      `json:"repo"`
	Branch    string                      `json:"branch"`
	Since     string                      `json:"since"`
	Head      string                      `json:"head"`
	Changes   []gitsrc.ChangeRequest      `json:"changes"`
	Errors    []*migration.MigrationError `json:"errors"`
	Proposals []gitsrc.Proposal           `json:"proposals,omitempty"`
}

func newChangesCmd() *cobra.Command {
	var f changesFlags
	cmd := &cobra.Command{
		Use:   "changes --repo PATH|URL [--branch main] [--dir migrations] [--since SHA]",
		Short: "List the change requests merged on a branch, and every migration error",
		Long: `changes reads a Git repository of goose SQL migrations and prints every migration
merged on the watched branch after --since (all of history when omitted) as a change
request: version, file, merge commit, PR number (from "Merge pull request #N" or a
squash title "… (#N)"), author and front matter.

It also reports every violation, each naming the file, line and commit, and then exits
with status 1:
  front_matter       missing or malformed front matter, unknown key, risk not in 1..10
  missing_down       no "-- +goose Down" section
  goose_syntax       a file goose itself would refuse (e.g. StatementBegin without End)
  go_migration       a .go migration (only SQL files are supported)
  bad_filename       a .sql file not named VERSION_name.sql
  duplicate_version  a new file reuses a merged version
  out_of_order       a new file's version is lower than one already merged
  checksum_drift     a merged file was edited
  deleted            a merged file was deleted

--repo is a local path, file://, or https:// URL. A local repository is read in place
(nothing is copied); a URL is cloned into --cache-dir (kept, so the next run only
fetches what is new) or a temp dir. For a private HTTPS repository put a token in an
environment variable and name it with --token-env (never on the command line). --proposals also lists unmerged branches (and GitHub refs/pull/N/head) that touch
the folder, judged against the branch.`,
		Example: `  # everything merged on main in ./migrations of a local clone
  schemacanary changes --repo .

  # what was merged since the last deployed commit, as JSON
  GITHUB_TOKEN=ghp_… schemacanary changes --repo https://github.com/acme/db.git \
      --token-env GITHUB_TOKEN --dir db/migrations --since 4f1c2e9 --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runChanges(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", "", "repository: local path, file:// or https:// URL (required)")
	fl.StringVar(&f.branch, "branch", "main", "watched branch")
	fl.StringVar(&f.dir, "dir", "migrations", "migrations folder inside the repository")
	fl.StringVar(&f.since, "since", "", "list changes after this commit (sha or ref); empty = all history")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	fl.StringVar(&f.tokenEnv, "token-env", "", "name of the environment variable holding an HTTPS token")
	fl.StringVar(&f.user, "user", "x-access-token", "HTTPS basic-auth user sent with the token")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "keep the mirror here between runs (default: a temp dir)")
	fl.BoolVar(&f.proposals, "proposals", false, "also list unmerged branches that touch the folder")
	_ = cmd.MarkFlagRequired("repo") // fails only for a flag not defined just above
	return cmd
}

func runChanges(cmd *cobra.Command, f changesFlags) error {
	if f.format != "text" && f.format != "json" {
		return fmt.Errorf("--format %q: want text or json", f.format)
	}
	opts := []gitsrc.Option{gitsrc.WithBranch(f.branch), gitsrc.WithMigrationsDir(f.dir)}
	if f.tokenEnv != "" {
		token := os.Getenv(f.tokenEnv)
		if token == "" {
			return fmt.Errorf("--token-env %s: the variable is empty or unset", f.tokenEnv)
		}
		opts = append(opts, gitsrc.WithBasicAuth(f.user, token))
	}
	if f.cacheDir != "" {
		opts = append(opts, gitsrc.WithDir(f.cacheDir))
	}
	ctx := cmd.Context()
	repo, err := gitsrc.Open(ctx, f.repo, opts...)
	if err != nil {
		return err
	}
	defer repo.Close()
	cs, err := repo.Changes(ctx, f.since)
	if err != nil {
		return err
	}
	out := changesOutput{Repo: f.repo, Branch: f.branch, Since: f.since, Head: cs.Head,
		Changes: cs.Changes, Errors: cs.Errors}
	if out.Changes == nil {
		out.Changes = []gitsrc.ChangeRequest{}
	}
	if out.Errors == nil {
		out.Errors = []*migration.MigrationError{}
	}
	nerr := len(cs.Errors)
	if f.proposals {
		if out.Proposals, err = repo.Proposals(ctx); err != nil {
			return err
		}
		for _, p := range out.Proposals {
			nerr += len(p.Errors)
		}
	}
	w := cmd.OutOrStdout()
	if f.format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printChangesText(w, out)
	}
	if nerr > 0 {
		return &exitError{code: statusFindings}
	}
	return nil
}

func printChangesText(w io.Writer, out changesOutput) {
	fmt.Fprintf(w, "%s %s at %.12s: %d change(s), %d error(s)\n", out.Repo, out.Branch, out.Head, len(out.Changes), len(out.Errors))
	printCRs(w, "", out.Changes)
	printErrs(w, "", out.Errors)
	for _, p := range out.Proposals {
		name := p.Branch
		if p.PR != 0 {
			name = fmt.Sprintf("pull request #%d", p.PR)
		}
		fmt.Fprintf(w, "\nproposal %s (%s at %.12s): %d change(s), %d error(s)\n", name, p.Ref, p.Head, len(p.Changes), len(p.Errors))
		printCRs(w, "  ", p.Changes)
		printErrs(w, "  ", p.Errors)
	}
}

func printCRs(w io.Writer, indent string, crs []gitsrc.ChangeRequest) {
	for _, cr := range crs {
		m := cr.Migration
		pr := "-"
		if cr.PR != 0 {
			pr = fmt.Sprintf("#%d", cr.PR)
		}
		fmt.Fprintf(w, "\n%s%d  %s\n", indent, m.Version, m.Path)
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		fm := m.FrontMatter
		tx := "transaction"
		if m.NoTransaction {
			tx = "no transaction"
		}
		for _, row := range [][2]string{
			{"commit", fmt.Sprintf("%.12s  %s", cr.Commit, firstLine(cr.Message))},
			{"pr", pr},
			{"author", fmt.Sprintf("%s <%s>  %s", cr.Author, cr.AuthorEmail, cr.MergedAt.UTC().Format("2006-01-02 15:04:05Z"))},
			{"risk", fmt.Sprint(fm.Risk)},
			{"owner", orDash(fm.Owner)},
			{"ticket", orDash(fm.Ticket)},
			{"bake", orDash(bakeString(fm.Bake))},
			{"allow_data_loss", fmt.Sprint(fm.AllowDataLoss)},
			{"statements", fmt.Sprintf("up %d, down %d, %s", len(m.Up), len(m.Down), tx)},
			{"sha256", m.SHA256},
		} {
			fmt.Fprintf(tw, "%s  %s:\t%s\n", indent, row[0], row[1])
		}
		tw.Flush()
	}
}

func printErrs(w io.Writer, indent string, errs []*migration.MigrationError) {
	if len(errs) == 0 {
		return
	}
	fmt.Fprintln(w)
	for _, e := range errs {
		fmt.Fprintf(w, "%serror: %v\n", indent, e)
	}
}

func bakeString(d migration.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
