package pgast

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// statements covers node types the migration corpora rarely use: queries,
// expressions, utility statements, PL/pgSQL bodies, and the oneof values of
// A_Const.
var statements = []string{
	`SELECT 1, 1.5, 'x', true, NULL, B'101', x'1f', -2147483649, 1e400`,
	`WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM t WHERE n < 5) SELECT sum(n) OVER (PARTITION BY n % 2 ORDER BY n ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t`,
	`SELECT a.*, b.x::bigint, ARRAY[1,2][1], (row(1,2)).f1, CASE WHEN a IS DISTINCT FROM b THEN 1 ELSE 2 END FROM a JOIN LATERAL (SELECT * FROM b WHERE b.id = a.id) b ON true WHERE a.id IN (SELECT id FROM c) AND EXISTS (SELECT 1) GROUP BY GROUPING SETS ((a.id), ()) HAVING count(*) FILTER (WHERE a.x > 0) > 1 ORDER BY 1 DESC NULLS LAST LIMIT 5 OFFSET 2 FOR UPDATE SKIP LOCKED`,
	`SELECT json_object('a' VALUE 1), json_array(1, 2), JSON_TABLE(jsonb '[]', '$[*]' COLUMNS (a int PATH '$.a')) IS NOT NULL, xmlelement(name foo, 'bar'), 'a' COLLATE "C" LIKE 'b%'`,
	`INSERT INTO t (a, b) VALUES (1, DEFAULT), (2, 3) ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b WHERE t.b < 10 RETURNING *`,
	`MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.del THEN DELETE WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)`,
	`UPDATE t SET (a, b) = (SELECT 1, 2) FROM u WHERE t.id = u.id; DELETE FROM t USING u WHERE t.id = u.id RETURNING t.id`,
	`CREATE TABLE IF NOT EXISTS public.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, total numeric(12,2) NOT NULL DEFAULT 0 CHECK (total >= 0), note text COLLATE "C", tags text[], created timestamptz DEFAULT now(), EXCLUDE USING gist (id WITH =)) PARTITION BY RANGE (created)`,
	`CREATE TABLE p1 PARTITION OF orders FOR VALUES FROM ('2020-01-01') TO ('2021-01-01')`,
	`ALTER TABLE orders ADD COLUMN x int, ALTER COLUMN total TYPE numeric USING total::numeric, ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES c(id) ON DELETE CASCADE NOT VALID, VALIDATE CONSTRAINT fk, DETACH PARTITION p1 CONCURRENTLY`,
	`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON orders USING btree (lower(note) text_pattern_ops DESC) INCLUDE (total) WHERE total > 0`,
	`CREATE FUNCTION f(a int, OUT b int) RETURNS SETOF record LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN QUERY SELECT a; END $$`,
	`DO $$ DECLARE r record; BEGIN FOR r IN SELECT 1 LOOP RAISE NOTICE '%', r; END LOOP; END $$`,
	`CREATE TRIGGER t BEFORE UPDATE OF a ON orders FOR EACH ROW WHEN (OLD.a IS DISTINCT FROM NEW.a) EXECUTE FUNCTION f()`,
	`CREATE VIEW v WITH (security_barrier) AS SELECT * FROM orders WITH CHECK OPTION; CREATE MATERIALIZED VIEW mv AS SELECT 1 WITH NO DATA; REFRESH MATERIALIZED VIEW CONCURRENTLY mv`,
	`CREATE TYPE mood AS ENUM ('sad', 'ok'); ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy' BEFORE 'ok'; CREATE DOMAIN d AS int CHECK (VALUE > 0)`,
	`GRANT SELECT, UPDATE (a) ON orders TO app WITH GRANT OPTION; REVOKE ALL ON SCHEMA s FROM PUBLIC; CREATE POLICY p ON orders USING (true)`,
	`BEGIN ISOLATION LEVEL SERIALIZABLE; SAVEPOINT s; ROLLBACK TO SAVEPOINT s; COMMIT; SET LOCAL lock_timeout = '1s'; RESET ALL`,
	`COPY orders (id) FROM STDIN WITH (FORMAT csv); VACUUM (ANALYZE, VERBOSE) orders; CLUSTER orders USING i; REINDEX INDEX CONCURRENTLY i`,
	`CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public; COMMENT ON COLUMN orders.id IS 'id'; SECURITY LABEL ON TABLE orders IS 'x'`,
	`CREATE SEQUENCE s AS bigint INCREMENT 2 MINVALUE 1 CACHE 10; ALTER SEQUENCE s OWNED BY orders.id; SELECT nextval('s')`,
	`LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE NOWAIT; TRUNCATE orders RESTART IDENTITY CASCADE; DROP TABLE IF EXISTS a, b CASCADE`,
	`CREATE PUBLICATION pub FOR TABLE orders WHERE (id > 0); CREATE STATISTICS st (dependencies) ON a, b FROM orders; EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1`,
	`PREPARE q(int) AS SELECT $1; EXECUTE q(1); DEALLOCATE q; LISTEN c; NOTIFY c, 'x'; CALL p(1)`,
	`SELECT * FROM xmltable('/r' PASSING '<r/>' COLUMNS a int PATH 'a'), generate_series(1, 3) WITH ORDINALITY AS g(n, o) TABLESAMPLE SYSTEM (10)`,
}

// inputs returns the statements above, the analysis golden files, and the
// shared corpora (Squawk's examples and real goose histories) when present.
func inputs(tb testing.TB) map[string]string {
	tb.Helper()
	in := map[string]string{}
	for i, s := range statements {
		in["statement "+string(rune('A'+i))] = s
	}
	for _, glob := range []string{
		filepath.Join("..", "..", "testdata", "golden", "*.sql"),
		filepath.Join("..", "..", "..", "..", "shared", "corpus", "squawk", "*", "*.sql"),
		filepath.Join("..", "..", "..", "..", "shared", "corpus", "goose", "*", "*.sql"),
	} {
		files, err := filepath.Glob(glob)
		if err != nil {
			tb.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			in[f] = string(b)
		}
	}
	return in
}

// sameJSON reports whether pg_query_go's value and ours render alike with
// encoding/json: the generated types keep pg_query_go's field names, order
// and JSON tags, so any difference in a decoded value shows.
func sameJSON(t *testing.T, want, got any) bool {
	t.Helper()
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(w, g)
}

func TestDecodeMatchesPgQuery(t *testing.T) {
	in := inputs(t)
	if len(in) < len(statements)+10 {
		t.Fatalf("only %d inputs found", len(in))
	}
	parsed := 0
	for name, sql := range in {
		want, werr := pg_query.Parse(sql)
		got, gerr := Parse(sql)
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Errorf("%s: error %v, pg_query.Parse: %v", name, gerr, werr)
			continue
		}
		if werr != nil {
			continue
		}
		parsed++
		if !sameJSON(t, want, got) {
			t.Errorf("%s: decoded tree differs from pg_query.Parse's", name)
		}
		wantScan, werr := pg_query.Scan(sql)
		gotScan, gerr := Scan(sql)
		if werr != nil || gerr != nil {
			t.Errorf("%s: scan: %v / %v", name, gerr, werr)
			continue
		}
		if !sameJSON(t, wantScan, gotScan) {
			t.Errorf("%s: decoded scan differs from pg_query.Scan's", name)
		}
	}
	t.Logf("%d inputs, %d parsed and compared", len(in), parsed)
	if os.Getenv("CI") == "true" && parsed < 500 {
		t.Fatalf("CI: only %d inputs parsed; the shared corpora (../shared/corpus) must be present", parsed)
	}
}

func TestEnumNames(t *testing.T) {
	if got := ObjectType_OBJECT_TABLE.String(); got != pg_query.ObjectType_OBJECT_TABLE.String() {
		t.Errorf("ObjectType_OBJECT_TABLE.String() = %q", got)
	}
	if got := AlterTableType(9999).String(); got != "9999" {
		t.Errorf("unknown value renders as %q", got)
	}
}

func TestSyntaxErrorKeepsCursor(t *testing.T) {
	_, err := Parse("SELECT 1;\nALTER TABLE t ADD COLUMN")
	var pe *parser.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want *parser.Error", err, err)
	}
	if pe.Cursorpos != 35 || !strings.Contains(pe.Message, "syntax error at end of input") {
		t.Fatalf("cursor %d message %q", pe.Cursorpos, pe.Message)
	}
}

func TestMalformedWireIsAnError(t *testing.T) {
	b, err := parser.ParseToProtobuf("SELECT a FROM t WHERE b = 'c'")
	if err != nil {
		t.Fatal(err)
	}
	for cut := 1; cut < len(b); cut++ {
		var want pg_query.ParseResult
		werr := proto.Unmarshal(b[:cut], &want)
		gerr := decodeParseResult(b[:cut], new(ParseResult), 0)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("truncated at %d/%d: error %v, proto.Unmarshal: %v", cut, len(b), gerr, werr)
		}
	}
	// A string field (RangeVar.relname) holding invalid UTF-8.
	bad := protowire.AppendTag(nil, 3, protowire.BytesType)
	bad = protowire.AppendBytes(bad, []byte{0xff, 0xfe})
	if err := decodeRangeVar(bad, new(RangeVar), 0); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
}

func TestDepthLimit(t *testing.T) {
	// A Node holding a List holding a Node ... nested past the limit.
	var b []byte
	for i := 0; i < maxDepth/2+2; i++ {
		list := protowire.AppendTag(nil, 1, protowire.BytesType) // List.items
		list = protowire.AppendBytes(list, b)
		node := protowire.AppendTag(nil, 265, protowire.BytesType) // Node.list
		b = protowire.AppendBytes(node, list)
	}
	if err := decodeNode(b, new(Node), 0); !errors.Is(err, errDepth) {
		t.Fatalf("error %v, want the depth limit", err)
	}
}

// FuzzParse checks the generated decoders against pg_query.Parse on any
// SQL the parser accepts (go test -fuzz FuzzParse ./analysis/internal/pgast).
func FuzzParse(f *testing.F) {
	for _, s := range statements {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		want, werr := pg_query.Parse(sql)
		got, gerr := Parse(sql)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("error %v, pg_query.Parse: %v", gerr, werr)
		}
		if werr == nil && !sameJSON(t, want, got) {
			t.Fatal("decoded tree differs from pg_query.Parse's")
		}
	})
}

// BenchmarkParse parses every input of TestDecodeMatchesPgQuery once per
// iteration, with this package's decoders and with pg_query.Parse (the
// protobuf runtime), so the two are compared in one run as a ratio; the
// figures are in docs/BENCHMARKS.md ("analysis: lint").
func BenchmarkParse(b *testing.B) {
	var sqls []string
	for _, sql := range inputs(b) {
		if _, err := pg_query.Parse(sql); err == nil {
			sqls = append(sqls, sql)
		}
	}
	for _, bc := range []struct {
		name  string
		parse func(string) error
	}{
		{"pgast", func(s string) error { _, err := Parse(s); return err }},
		{"pg_query", func(s string) error { _, err := pg_query.Parse(s); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				for _, s := range sqls {
					if err := bc.parse(s); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(sqls))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
		})
	}
}
