package analysis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// ColumnType is a column's type as PostgreSQL stores it: the pg_type name
// (int4, varchar, numeric, timestamptz, _text for text[]) and the type
// modifiers that matter for a rewrite: a length (varchar, bpchar, bit,
// varbit), a precision and scale (numeric) or a fractional-seconds
// precision (timestamp, time, interval). No Mods: unbounded.
type ColumnType struct {
	Name string `json:"name"`
	Mods []int  `json:"mods,omitempty"`
}

// String renders t as "varchar(200)" or "numeric(10,2)".
func (t ColumnType) String() string {
	if len(t.Mods) == 0 {
		return t.Name
	}
	parts := make([]string, len(t.Mods))
	for i, m := range t.Mods {
		parts[i] = strconv.Itoa(m)
	}
	return t.Name + "(" + strings.Join(parts, ",") + ")"
}

// ColumnCatalog is a Catalog that also knows the types of a table's
// columns; with one, ALTER COLUMN ... TYPE is judged from the old type.
// PGCatalog and StaticCatalog implement it.
type ColumnCatalog interface {
	// ColumnTypes returns the types of the columns of a schema-qualified
	// table (empty when the table does not exist).
	ColumnTypes(ctx context.Context, table string) (map[string]ColumnType, error)
}

// ColumnTypes implements ColumnCatalog from TableStats.Columns.
func (s StaticCatalog) ColumnTypes(_ context.Context, table string) (map[string]ColumnType, error) {
	return s[table].Columns, nil
}

// parsedColumnType is the ColumnType a parsed type name denotes ("" name
// when it cannot be told: %TYPE, a type modifier that is not a constant).
func parsedColumnType(tn *pgast.TypeName) ColumnType {
	if tn == nil || tn.PctType || tn.Setof {
		return ColumnType{}
	}
	name := typeName(tn)
	switch name {
	case "int", "integer":
		name = "int4"
	case "bigint":
		name = "int8"
	case "smallint":
		name = "int2"
	case "decimal":
		name = "numeric"
	case "character varying":
		name = "varchar"
	}
	if len(tn.ArrayBounds) > 0 {
		name = "_" + name
	}
	t := ColumnType{Name: name}
	for _, m := range tn.Typmods {
		c := m.GetAConst()
		if c == nil || c.GetIval() == nil {
			return ColumnType{}
		}
		t.Mods = append(t.Mods, int(c.GetIval().Ival))
	}
	if name == "numeric" && len(t.Mods) == 1 {
		t.Mods = append(t.Mods, 0) // numeric(p) means numeric(p,0)
	}
	return t
}

// rewriteVerdict is what ALTER COLUMN ... TYPE does to the table's storage.
type rewriteVerdict int

const (
	noRewrite  rewriteVerdict = iota // binary-coercible: only the catalog changes
	rewrites                         // every row is rewritten, with every index
	mayRewrite                       // the old type is unknown
)

// typeChangeVerdict decides, like PostgreSQL's ATColumnChangeRequiresRewrite,
// whether changing a column from old to new rewrites the table. plainUsing
// is true without a USING clause or with one that only casts the column.
// The rules follow PostgreSQL 15: binary-coercible casts (varchar → text,
// text → varchar, cidr → inet, text or varchar → citext) and the length
// coercions whose support functions declare them no-ops (varchar and
// varbit lengths that do not shrink, numeric precision that grows at the
// same scale, timestamp/time/interval precision that does not shrink).
// timestamp → timestamptz skips the rewrite only when the session's
// TimeZone is UTC, which the analysis cannot know: "may rewrite".
func typeChangeVerdict(old, new ColumnType, plainUsing bool) rewriteVerdict {
	switch {
	case new.Name == "":
		return mayRewrite
	case !plainUsing:
		return rewrites
	case old.Name == "":
		return mayRewrite
	}
	if old.Name == new.Name {
		if equalMods(old.Mods, new.Mods) {
			return noRewrite
		}
		return lengthCoercion(old, new)
	}
	switch {
	case old.Name == "varchar" && new.Name == "text",
		old.Name == "cidr" && new.Name == "inet",
		(old.Name == "text" || old.Name == "varchar") && new.Name == "citext":
		return noRewrite
	case old.Name == "text" && new.Name == "varchar":
		if len(new.Mods) == 0 {
			return noRewrite
		}
		return rewrites
	case old.Name == "timestamp" && new.Name == "timestamptz":
		return mayRewrite
	}
	return rewrites
}

// lengthCoercion is the verdict for a change of a type's modifiers only.
func lengthCoercion(old, new ColumnType) rewriteVerdict {
	grows := func(i int) bool { // new modifier i is unbounded or at least old's
		return len(new.Mods) <= i || (len(old.Mods) > i && new.Mods[i] >= old.Mods[i])
	}
	switch old.Name {
	case "varchar", "varbit":
		if len(new.Mods) == 0 || (len(old.Mods) > 0 && grows(0)) {
			return noRewrite
		}
	case "numeric":
		if len(new.Mods) == 0 {
			return noRewrite
		}
		if len(old.Mods) == 2 && len(new.Mods) == 2 && new.Mods[1] == old.Mods[1] && new.Mods[0] >= old.Mods[0] {
			return noRewrite
		}
	case "timestamp", "timestamptz", "time", "timetz", "interval":
		if len(new.Mods) == 0 || (len(old.Mods) > 0 && grows(0)) {
			return noRewrite
		}
	}
	return rewrites
}

func equalMods(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// plainUsing reports whether a USING clause (cd.RawDefault) is absent or
// only casts the column itself (col::newtype), which is what no USING does.
func plainUsing(cd *pgast.ColumnDef, col string) bool {
	if cd.RawDefault == nil {
		return true
	}
	e := cd.RawDefault
	if tc := e.GetTypeCast(); tc != nil {
		e = tc.Arg
	}
	cr := e.GetColumnRef()
	if cr == nil {
		return false
	}
	parts := stringList(cr.Fields)
	return len(parts) > 0 && parts[len(parts)-1] == col
}

// oldColumnType is the type column col of table t has before the statement
// being walked: set earlier in this migration (ADD COLUMN, ALTER TYPE), or
// read from a ColumnCatalog. ok is false when it is unknown.
func (w *walker) oldColumnType(t, col string) (ColumnType, bool) {
	key := t + "/" + col
	if ct, ok := w.colTypes[key]; ok {
		return ct, ct.Name != ""
	}
	cc, ok := w.cfg.catalog.(ColumnCatalog)
	if !ok || w.ctx == nil {
		return ColumnType{}, false
	}
	cols, fetched := w.tableCols[t]
	if !fetched {
		var err error
		cols, err = cc.ColumnTypes(w.ctx, t)
		if err != nil {
			if w.catErr == nil {
				w.catErr = fmt.Errorf("column types of %s: %w", t, err)
			}
			return ColumnType{}, false
		}
		w.tableCols[t] = cols
	}
	ct, ok := cols[col]
	return ct, ok
}

// setColumnType records the type a statement of this migration gives a
// column, for later ALTER COLUMN ... TYPE statements.
func (w *walker) setColumnType(t, col string, ct ColumnType) {
	w.colTypes[t+"/"+col] = ct
}
