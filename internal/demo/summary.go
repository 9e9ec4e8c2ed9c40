package demo

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// finish stops the load, then checks the fleet: which demo versions each
// instance holds, that the harmful change's index is back, and that every
// order written under load is there.
func (e *environment) finish(ctx context.Context, sum *Summary) error {
	if err := e.load.Stop(); err != nil {
		return err
	}
	sum.Versions, sum.Orders, sum.Expected = map[string]int64{}, map[string]int64{}, map[string]int64{}
	for _, in := range e.clusters.Fleet {
		db, err := sql.Open("pgx", in.DSN)
		if err != nil {
			return err
		}
		err = func() error {
			defer db.Close()
			v, err := gooseVersion(ctx, db)
			if err != nil {
				return err
			}
			sum.Versions[in.Name] = v
			var n int64
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
				return err
			}
			sum.Orders[in.Name] = n
			sum.Expected[in.Name] = e.seeded[in.Name] + e.load.Inserted(in.Name)
			var idx bool
			if err := db.QueryRowContext(ctx, "SELECT to_regclass('orders_customer_id_idx') IS NOT NULL").Scan(&idx); err != nil {
				return err
			}
			if !idx {
				return fmt.Errorf("demo: %s lost orders_customer_id_idx: the harmful change was not rolled back there", in.Name)
			}
			return nil
		}()
		if err != nil {
			return fmt.Errorf("demo: check %s: %w", in.Name, err)
		}
	}
	for _, o := range sum.Outcomes {
		if o.Kind == "harmful" {
			sum.RevertBranch = fmt.Sprintf("schemacanary/revert-%d", o.Version)
		}
	}
	sum.Alerts, sum.AlertsRejected = e.alerts.counts()
	for name, n := range sum.Orders {
		if n != sum.Expected[name] {
			return fmt.Errorf("demo: %s holds %d orders, want %d (seeded + written under load): rows were lost", name, n, sum.Expected[name])
		}
	}
	return nil
}

// gooseVersion is the highest version goose records as applied (the latest
// row per version wins, so a reverted version does not count).
func gooseVersion(ctx context.Context, db *sql.DB) (int64, error) {
	var v int64
	err := db.QueryRowContext(ctx, `SELECT coalesce(max(version_id), 0) FROM (
		SELECT DISTINCT ON (version_id) version_id, is_applied FROM goose_db_version ORDER BY version_id, id DESC) s
		WHERE is_applied`).Scan(&v)
	return v, err
}

// appliedDemo lists which demo versions an instance holds, "15 ✓ 16 ✗ 17 ✓".
func (e *environment) appliedDemo(ctx context.Context, dsn string) string {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "?"
	}
	defer db.Close()
	var parts []string
	for _, c := range demoChanges {
		v := versionOf(c.file)
		var ok bool
		err := db.QueryRowContext(ctx, `SELECT coalesce((SELECT is_applied FROM goose_db_version WHERE version_id = $1 ORDER BY id DESC LIMIT 1), false)`, v).Scan(&ok)
		mark := "✗"
		if err == nil && ok {
			mark = "✓"
		}
		parts = append(parts, fmt.Sprintf("%d %s", v, mark))
	}
	return strings.Join(parts, "  ")
}

// printSummary prints the outcome table, the fleet's state and the audit log.
func (e *environment) printSummary(sum *Summary) {
	p := e.p
	p.section("summary")
	p.plain("  %-40s %-8s %-27s %-10s %s", "change", "kind", "outcome", "confidence", "took")
	for _, o := range sum.Outcomes {
		extra := ""
		if o.Kind == "harmful" && sum.RevertBranch != "" {
			extra = "  revert branch " + sum.RevertBranch
		}
		p.plain("  %-40s %-8s %-27s %-10s %.0fs%s", o.File, o.Kind, strings.ReplaceAll(o.State, "_", " "), fmt.Sprintf("%.2f", o.Confidence), o.Took.Seconds(), extra)
	}
	p.plain("")
	ctx := context.Background()
	for _, in := range e.clusters.Fleet {
		p.plain("  %-9s goose version %d   demo changes: %s   orders %s = %s seeded + %s written under load %s",
			in.Name, sum.Versions[in.Name], e.appliedDemo(ctx, in.DSN), thousands(sum.Orders[in.Name]),
			thousands(e.seeded[in.Name]), thousands(sum.Expected[in.Name]-e.seeded[in.Name]), check(sum.Orders[in.Name] == sum.Expected[in.Name]))
	}
	p.plain("  Nothing lost: every order written during the canaries and the rollback is there.")
	p.plain("  Alerts: %d webhook deliveries received, every signature verified %s", sum.Alerts, check(sum.Alerts > 0 && sum.AlertsRejected == 0))
	p.plain("")
	p.plain("The audit trail is a Git branch, one commit per state transition:")
	p.plain("  git --git-dir %s log schemacanary-audit", sum.RepoDir)
	for _, l := range auditLog(sum.RepoDir, 12) {
		p.plain("    %s", l)
	}
	p.plain("Done in %.0fs.", p.elapsed().Seconds())
}

func check(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// auditLog returns the newest n commit subjects of the audit branch.
func auditLog(bare string, n int) []string {
	r, err := git.PlainOpen(bare)
	if err != nil {
		return []string{"(cannot open the repository: " + err.Error() + ")"}
	}
	ref, err := r.Reference(plumbing.NewBranchReferenceName("schemacanary-audit"), true)
	if err != nil {
		return []string{"(no audit branch yet)"}
	}
	it, err := r.Log(&git.LogOptions{From: ref.Hash()})
	if err != nil {
		return nil
	}
	defer it.Close()
	var out []string
	for len(out) < n {
		c, err := it.Next()
		if err != nil {
			break
		}
		subject, _, _ := strings.Cut(c.Message, "\n")
		out = append(out, fmt.Sprintf("%s %s", c.Hash.String()[:8], subject))
	}
	return out
}
