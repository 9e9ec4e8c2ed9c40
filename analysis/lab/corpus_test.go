package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// corpusDir is ../shared/corpus/goose; tests skip without it, except
// under CI=true, where it must be there.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "corpus", "goose")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus %s missing in CI: %v", dir, err)
		}
		t.Skipf("corpus %s absent", dir)
	}
	return dir
}

func TestGooseSections(t *testing.T) {
	t.Parallel()
	up, down, noTx := gooseSections("-- +goose NO TRANSACTION\n-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE a (id int);\n-- +goose StatementEnd\n\n-- +goose Down\nDROP TABLE a;\n")
	if up != "CREATE TABLE a (id int);" || down != "DROP TABLE a;" || !noTx {
		t.Errorf("up %q down %q noTx %v", up, down, noTx)
	}
}

// Every scroll file applies in order on an empty database; dora's and the
// count of what cannot apply are reported.
func TestCheckCorpus(t *testing.T) {
	t.Parallel()
	dir := corpusDir(t)
	ctx := context.Background()
	projects, err := LoadCorpus(dir, []string{"scroll-tech__scroll", "ethpandaops__dora"})
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range projects {
		files, chk, err := CheckCorpus(ctx, pgtest.NewDatabase(t), pr)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d of %d files apply in order; skipped %v", pr.Name, chk.Applied, chk.Files, chk.Skipped)
		if chk.Applied+len(chk.Skipped) != chk.Files || len(files) != chk.Applied {
			t.Errorf("%s: %d applied + %d skipped != %d files", pr.Name, chk.Applied, len(chk.Skipped), chk.Files)
		}
		if pr.Name == "scroll-tech__scroll" && (chk.Applied != 24 || len(chk.Skipped) != 0) {
			t.Errorf("scroll: %d of 24 applied, skipped %v", chk.Applied, chk.Skipped)
		}
		last := files[len(files)-1]
		if len(last.History) != len(files)-1 {
			t.Errorf("%s: the last file's history has %d files, want %d", pr.Name, len(last.History), len(files)-1)
		}
	}
}

// Scroll files replayed under load, each on a fresh database holding the
// project's history up to the file before it, with made-up rows in the
// tables they touch: they apply, are judged, and their Down works.
func TestCorpusReplayScroll(t *testing.T) {
	t.Parallel()
	dir := corpusDir(t)
	ctx := context.Background()
	cfg := Config{
		Examples: 4, Seed: 5, CorpusShare: 1, CorpusSizes: []int64{2000}, ReadRates: []float64{60}, WriteRates: []float64{30},
		LongTxns: []time.Duration{0}, RepeatShare: -1, Lanes: 1, Templates: byID(t, "add_nullable_column"),
		Baseline: 600 * time.Millisecond, Settle: 300 * time.Millisecond,
	}
	r, err := New(cfg, errorJudge, WithApplier(ArmProduct, GooseApplier{}), WithCorpus(dir, "scroll-tech__scroll"),
		WithCatalog(openTestCatalog))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sum, err := r.Run(ctx, pgtest.Shared(t).DSN("postgres"), WriterOutput{&out})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Corpus) != 1 || sum.Corpus[0].Applied != 24 || sum.Runs != 4 {
		t.Fatalf("summary %+v", sum)
	}
	recs, _, err := readRecords(strings.NewReader(out.String()), false)
	if err != nil {
		t.Fatal(err)
	}
	filled := 0
	for _, rec := range recs {
		if rec.Source != KindCorpus || !strings.HasPrefix(rec.Template, "corpus/scroll-tech__scroll/") || rec.Family != "corpus_scroll-tech" {
			t.Errorf("record %d: source %s template %s family %s", rec.Index, rec.Source, rec.Template, rec.Family)
		}
		if rec.Outcome.ApplyError != "" || rec.Outcome.RevertError != "" {
			t.Errorf("%s: apply %q, revert %q", rec.Template, rec.Outcome.ApplyError, rec.Outcome.RevertError)
		}
		if rec.Outcome.CanaryCalls == 0 || len(rec.Features) == 0 || !strings.Contains(rec.Goose, "+goose Up") {
			t.Errorf("%s: %d canary calls, %d features", rec.Template, rec.Outcome.CanaryCalls, len(rec.Features))
		}
		if rec.Outcome.FilledRows > 0 {
			filled++
		}
		t.Logf("%s: safe %v (%s), %d rows made up, %d tables in context", rec.Template, rec.Safe, rec.Outcome.Verdict.Reason, rec.Outcome.FilledRows, len(rec.Context))
	}
	if filled == 0 {
		t.Errorf("no replay found rows to make up in the tables it touches")
	}
}
