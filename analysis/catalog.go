package analysis

import "context"

// Catalog gives live context about tables: their size, traffic and the
// server's measured rewrite throughput. PGCatalog is the pgx implementation;
// StaticCatalog is a fixed map for tests and offline use.
type Catalog interface {
	// TableStats returns stats for each schema-qualified table name asked
	// for; tables that do not exist come back with Exists == false.
	TableStats(ctx context.Context, tables []string) (map[string]TableStats, error)
}

// StaticCatalog is a Catalog over a fixed map, keyed by schema-qualified
// name. Safe for concurrent use (it is read-only).
type StaticCatalog map[string]TableStats

var _ Catalog = StaticCatalog(nil)

// TableStats implements Catalog.
func (s StaticCatalog) TableStats(_ context.Context, tables []string) (map[string]TableStats, error) {
	out := make(map[string]TableStats, len(tables))
	for _, t := range tables {
		st, ok := s[t]
		if !ok {
			st = TableStats{Name: t}
		}
		st.Name = t
		out[t] = st
	}
	return out, nil
}
