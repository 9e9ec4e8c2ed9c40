package reconciler

import (
	"time"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/gitsrc"
	"github.com/schemacanary/schemacanary/rollout"
)

// planFromReport builds the rollout.Change of a parsed migration and its
// analysis: the file bytes for goose, the touched tables and strongest lock
// for the lock-safe applier, and what the Down section drops for the
// rollback's archive.
func planFromReport(m *gitsrc.Migration, rep *analysis.Report) *rollout.Change {
	ch := &rollout.Change{
		Version:       m.Version,
		Name:          m.Name,
		Source:        m.Source,
		AllowDataLoss: m.FrontMatter.AllowDataLoss,
		NoTransaction: m.NoTransaction,
		Bake:          time.Duration(m.FrontMatter.Bake),
	}
	if rep != nil {
		ch.Tables = append([]string(nil), rep.Tables...)
		ch.Lock = rep.StrongestLock
		for _, d := range rep.DownDrops {
			ch.Archive = append(ch.Archive, rollout.ArchiveTarget{Schema: d.Schema, Table: d.Table, Column: d.Column})
		}
	}
	return ch
}
