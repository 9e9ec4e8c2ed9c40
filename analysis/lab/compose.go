package lab

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// part is one building block of a composed migration: a statement (or a
// few) with its Down, the objects it names (two parts that name the same
// object are never combined, so every composition is valid in any order),
// and where it may run.
type part struct {
	id       string
	risk     float64
	up, down []string
	objects  []string
	// txOnly parts need a transaction (LOCK TABLE); noTxOnly parts cannot
	// run in one (CONCURRENTLY, VACUUM).
	txOnly, noTxOnly bool
}

// parts are the building blocks, safe and hazardous.
func parts() []part {
	p := func(id string, risk float64, up, down []string, objects ...string) part {
		return part{id: id, risk: risk, up: up, down: down, objects: objects}
	}
	noTxP := func(x part) part { x.noTxOnly = true; return x }
	txP := func(x part) part { x.txOnly = true; return x }
	return []part{
		p("add_col", 2, s("ALTER TABLE {{t}} ADD COLUMN c_text text"), s("ALTER TABLE {{t}} DROP COLUMN IF EXISTS c_text"), "c_text"),
		p("add_col_default", 2, s("ALTER TABLE {{t}} ADD COLUMN c_int int NOT NULL DEFAULT 0"), s("ALTER TABLE {{t}} DROP COLUMN IF EXISTS c_int"), "c_int"),
		p("add_col_volatile", 3, s("ALTER TABLE {{t}} ADD COLUMN c_uuid uuid DEFAULT gen_random_uuid()"), s("ALTER TABLE {{t}} DROP COLUMN IF EXISTS c_uuid"), "c_uuid"),
		p("add_col_required", 3, s("ALTER TABLE {{t}} ADD COLUMN c_req text NOT NULL"), s("ALTER TABLE {{t}} DROP COLUMN IF EXISTS c_req"), "c_req"),
		p("comment", 1, s("COMMENT ON COLUMN {{t}}.note IS 'composed'"), s("COMMENT ON COLUMN {{t}}.note IS NULL"), "comment_note"),
		p("side_table", 1, s("CREATE TABLE {{t}}_side (id bigserial PRIMARY KEY, order_id bigint, at timestamptz DEFAULT now())"), s("DROP TABLE IF EXISTS {{t}}_side"), "side"),
		p("index_status", 3, s("CREATE INDEX {{t}}_c_status_idx ON {{t}} (status)"), s("DROP INDEX IF EXISTS {{t}}_c_status_idx"), "idx_status", "status"),
		noTxP(p("index_status_cc", 2, s("CREATE INDEX CONCURRENTLY {{t}}_c_status_idx ON {{t}} (status)"), s("DROP INDEX IF EXISTS {{t}}_c_status_idx"), "idx_status", "status")),
		noTxP(p("index_qty_cc", 2, s("CREATE INDEX CONCURRENTLY {{t}}_c_qty_idx ON {{t}} (qty)"), s("DROP INDEX IF EXISTS {{t}}_c_qty_idx"), "idx_qty", "qty")),
		p("index_qty", 3, s("CREATE INDEX {{t}}_c_qty_idx ON {{t}} (qty)"), s("DROP INDEX IF EXISTS {{t}}_c_qty_idx"), "idx_qty", "qty"),
		p("check_not_valid", 2, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_c_chk CHECK (amount >= 0) NOT VALID"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_c_chk"), "chk", "amount"),
		p("check_validate", 3, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_c_chk CHECK (amount >= 0) NOT VALID", "ALTER TABLE {{t}} VALIDATE CONSTRAINT {{t}}_c_chk"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_c_chk"), "chk", "amount"),
		p("check_full", 4, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_c_chk CHECK (amount >= 0)"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_c_chk"), "chk", "amount"),
		p("fk_not_valid", 2, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_c_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_c_fk"), "fk", "customer_id"),
		p("fk_full", 4, s("ALTER TABLE {{t}} ADD CONSTRAINT {{t}}_c_fk FOREIGN KEY (customer_id) REFERENCES customers (id)"), s("ALTER TABLE {{t}} DROP CONSTRAINT IF EXISTS {{t}}_c_fk"), "fk", "customer_id"),
		p("backfill_batch", 2, s("UPDATE {{t}} SET qty = qty WHERE id <= 1000"), s(noop), "qty_data"),
		p("backfill_all", 4, s("UPDATE {{t}} SET qty = qty"), s(noop), "qty_data"),
		p("type_rewrite", 5, s("ALTER TABLE {{t}} ALTER COLUMN qty TYPE bigint"), s("ALTER TABLE {{t}} ALTER COLUMN qty TYPE integer"), "qty", "qty_type"),
		p("rename_used", 4, s("ALTER TABLE {{t}} RENAME COLUMN status TO state"), s("ALTER TABLE {{t}} RENAME COLUMN state TO status"), "status"),
		p("drop_used_index", 3, s("DROP INDEX {{t}}_customer_idx"), s("CREATE INDEX IF NOT EXISTS {{t}}_customer_idx ON {{t}} (customer_id)"), "customer_idx"),
		noTxP(p("drop_used_index_cc", 2, s("DROP INDEX CONCURRENTLY {{t}}_customer_idx"), s("CREATE INDEX IF NOT EXISTS {{t}}_customer_idx ON {{t}} (customer_id)"), "customer_idx")),
		p("drop_unused_index", 3, s("DROP INDEX {{t}}_created_idx"), s("CREATE INDEX IF NOT EXISTS {{t}}_created_idx ON {{t}} (created_at)"), "created_idx"),
		p("set_not_null_nulls", 4, s("ALTER TABLE {{t}} ALTER COLUMN note SET NOT NULL"), s("ALTER TABLE {{t}} ALTER COLUMN note DROP NOT NULL"), "note"),
		p("drop_unused_column", 6, s("ALTER TABLE {{t}} DROP COLUMN note"), s("ALTER TABLE {{t}} ADD COLUMN IF NOT EXISTS note text"), "note", "comment_note"),
		p("set_default", 1, s("ALTER TABLE {{t}} ALTER COLUMN status SET DEFAULT 'open'"), s("ALTER TABLE {{t}} ALTER COLUMN status SET DEFAULT 'new'"), "status_default", "status"),
		p("analyze", 1, s("ANALYZE {{t}}"), s(noop)),
		p("seed_rows", 1, s("INSERT INTO {{t}} (customer_id, status, amount) SELECT 1 + g % 100, 'seed', 0 FROM generate_series(1, 100) g"), s("DELETE FROM {{t}} WHERE status = 'seed'"), "seed", "status"),
		p("function", 1, s("CREATE FUNCTION {{t}}_c_fn() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 1 $$"), s("DROP FUNCTION IF EXISTS {{t}}_c_fn()"), "fn"),
		txP(p("lock_share", 3, s("LOCK TABLE {{t}} IN SHARE MODE"), s(noop), "lock")),
		noTxP(p("vacuum", 1, s("VACUUM {{t}}"), s(noop))),
	}
}

// composedFamilies names the composed families.
const (
	FamilyComposedTx   = "composed_tx"
	FamilyComposedNoTx = "composed_notx"
)

// composeSeed fixes the composition, so template ids mean the same file
// in every run.
const composeSeed = 20261201

// Composed generates the multi-statement templates: 28 transactional files
// and 18 NO TRANSACTION files of 2 to 4 parts each (safe and hazardous
// statements mixed, in random order, never two parts naming one object),
// plus two files that put CREATE INDEX CONCURRENTLY inside goose's
// transaction, a mistake goose users make. The result is the same in every
// call.
func Composed() []Template {
	ps := parts()
	rng := rand.New(rand.NewPCG(composeSeed, 7))
	var out []Template
	seen := map[string]bool{}
	gen := func(family, prefix string, n int, noTx bool, need func([]part) bool) {
		for k, tries := 1, 0; k <= n && tries < 10000; tries++ {
			size := 2 + rng.IntN(3)
			pick := pickParts(rng, ps, size, noTx)
			if pick == nil || !need(pick) {
				continue
			}
			key := partsKey(pick, noTx)
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, composeTemplate(fmt.Sprintf("%s_%02d", prefix, k), family, pick, noTx))
			k++
		}
	}
	anyParts := func([]part) bool { return true }
	hasConcurrently := func(pick []part) bool {
		for _, p := range pick {
			if p.noTxOnly {
				return true
			}
		}
		return false
	}
	gen(FamilyComposedTx, "composed_tx", 28, false, anyParts)
	gen(FamilyComposedNoTx, "composed_notx", 18, true, hasConcurrently)
	// The mistake: a CONCURRENTLY statement in a transactional file.
	byID := map[string]part{}
	for _, p := range ps {
		byID[p.id] = p
	}
	for i, ids := range [][]string{{"add_col", "index_qty_cc"}, {"index_status_cc", "seed_rows", "comment"}} {
		var pick []part
		for _, id := range ids {
			pick = append(pick, byID[id])
		}
		out = append(out, composeTemplate(fmt.Sprintf("composed_tx_mistake_%02d", i+1), FamilyComposedTx, pick, false))
	}
	return out
}

// pickParts draws size parts that name no object twice and may run in the
// chosen mode, or nil.
func pickParts(rng *rand.Rand, ps []part, size int, noTx bool) []part {
	used := map[string]bool{}
	var pick []part
	for _, i := range rng.Perm(len(ps)) {
		p := ps[i]
		if (noTx && p.txOnly) || (!noTx && p.noTxOnly) {
			continue
		}
		clash := false
		for _, o := range p.objects {
			clash = clash || used[o]
		}
		if clash {
			continue
		}
		for _, o := range p.objects {
			used[o] = true
		}
		pick = append(pick, p)
		if len(pick) == size {
			return pick
		}
	}
	return nil
}

func partsKey(pick []part, noTx bool) string {
	ids := make([]string, len(pick))
	for i, p := range pick {
		ids[i] = p.id
	}
	sort.Strings(ids)
	return fmt.Sprint(noTx, ids)
}

// composeTemplate joins the parts' Up in order and their Down in reverse
// order. An author rates the file by its scariest part, a little more for
// each other part.
func composeTemplate(id, family string, pick []part, noTx bool) Template {
	t := Template{ID: id, Family: family, Kind: KindComposed, NoTransaction: noTx}
	for _, p := range pick {
		t.Up = append(t.Up, p.up...)
		t.AuthorRisk = math.Max(t.AuthorRisk, p.risk)
	}
	for i := len(pick) - 1; i >= 0; i-- {
		t.Down = append(t.Down, pick[i].down...)
	}
	t.AuthorRisk = math.Min(10, t.AuthorRisk+0.3*float64(len(pick)-1))
	return t
}

// ComposedParts returns the part ids of a composed template id's file, for
// the datasheet and tests ("" for other templates).
func ComposedParts(t Template) string {
	if t.Kind != KindComposed {
		return ""
	}
	byUp := map[string]string{}
	for _, p := range parts() {
		byUp[strings.Join(p.up, "\n")] = p.id
	}
	var ids []string
	for i := 0; i < len(t.Up); {
		found := false
		for n := len(t.Up) - i; n >= 1; n-- {
			if id, ok := byUp[strings.Join(t.Up[i:i+n], "\n")]; ok {
				ids = append(ids, id)
				i += n
				found = true
				break
			}
		}
		if !found {
			ids = append(ids, "?")
			i++
		}
	}
	return strings.Join(ids, "+")
}
