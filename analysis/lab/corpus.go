package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// CorpusFile is one third-party goose file: replayed under load on a
// schema built from the files of its project that come before it.
type CorpusFile struct {
	// Project is the corpus folder ("scroll-tech__scroll"); Name the file.
	Project, Name string
	// Version is the goose version (the numeric filename prefix).
	Version int64
	// Source is the file as goose reads it.
	Source []byte
	// Up and Down are the sections' SQL, goose annotations removed.
	Up, Down string
	// NoTransaction mirrors "-- +goose NO TRANSACTION".
	NoTransaction bool
	// History are the project's earlier files that applied in order (set
	// by CheckCorpus); the replay's schema is built from them.
	History []*CorpusFile
}

// ID is the template id of the replay: "corpus/<project>/<file>".
func (f *CorpusFile) ID() string {
	return "corpus/" + f.Project + "/" + strings.TrimSuffix(f.Name, ".sql")
}

// CorpusProject is one project's goose history, in version order.
type CorpusProject struct {
	Name  string
	Files []*CorpusFile
}

var versionPrefix = regexp.MustCompile(`^(\d+)_.*\.sql$`)

// LoadCorpus reads the goose files of the named project folders under dir
// (e.g. ../shared/corpus/goose), each in version order.
func LoadCorpus(dir string, projects []string) ([]CorpusProject, error) {
	var out []CorpusProject
	for _, name := range projects {
		entries, err := os.ReadDir(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("lab: corpus %s: %w", name, err)
		}
		pr := CorpusProject{Name: name}
		for _, e := range entries {
			m := versionPrefix.FindStringSubmatch(e.Name())
			if e.IsDir() || m == nil {
				continue
			}
			v, err := strconv.ParseInt(m[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("lab: corpus %s/%s: %w", name, e.Name(), err)
			}
			src, err := os.ReadFile(filepath.Join(dir, name, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("lab: corpus: %w", err)
			}
			f := &CorpusFile{Project: name, Name: e.Name(), Version: v, Source: src}
			f.Up, f.Down, f.NoTransaction = gooseSections(string(src))
			pr.Files = append(pr.Files, f)
		}
		sort.Slice(pr.Files, func(i, j int) bool { return pr.Files[i].Version < pr.Files[j].Version })
		if len(pr.Files) == 0 {
			return nil, fmt.Errorf("lab: corpus %s: no goose files", name)
		}
		out = append(out, pr)
	}
	return out, nil
}

var gooseAnnotation = regexp.MustCompile(`(?i)^\s*--\s*\+goose\s+(.*)$`)

// gooseSections splits a goose file into its Up and Down SQL.
func gooseSections(src string) (up, down string, noTx bool) {
	var ub, db strings.Builder
	var cur *strings.Builder
	for _, line := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		if m := gooseAnnotation.FindStringSubmatch(line); m != nil {
			switch strings.ToLower(strings.Join(strings.Fields(m[1]), " ")) {
			case "up":
				cur = &ub
			case "down":
				cur = &db
			case "no transaction":
				noTx = true
			}
			continue
		}
		if cur != nil {
			cur.WriteString(line)
			cur.WriteByte('\n')
		}
	}
	return strings.TrimSpace(ub.String()), strings.TrimSpace(db.String()), noTx
}

// CorpusCheck says which files of a project applied in order on an empty
// database (CheckCorpus), and why the others did not.
type CorpusCheck struct {
	Project string `json:"project"`
	Files   int    `json:"files"`
	// Applied are the files that can be replayed.
	Applied int `json:"applied"`
	// Skipped maps a file to goose's error; skipped files are not replayed
	// and are left out of later files' history.
	Skipped map[string]string `json:"skipped,omitempty"`
}

// CheckCorpus applies every file of pr, in order, with plain goose on the
// empty database at dsn (which it leaves holding the result), and sets
// each applied file's History. It returns the files that applied and what
// was skipped.
func CheckCorpus(ctx context.Context, dsn string, pr CorpusProject) ([]*CorpusFile, CorpusCheck, error) {
	chk := CorpusCheck{Project: pr.Name, Files: len(pr.Files), Skipped: map[string]string{}}
	var applied []*CorpusFile
	for _, f := range pr.Files {
		if f.Up == "" {
			chk.Skipped[f.Name] = "empty Up section"
			continue
		}
		_, err := GooseApplier{}.Apply(ctx, dsn, Migration{Version: f.Version, Name: corpusGooseName(f), Source: f.Source})
		if ctx.Err() != nil {
			return nil, chk, ctx.Err()
		}
		if err != nil {
			chk.Skipped[f.Name] = firstLine(err.Error())
			continue
		}
		f.History = append([]*CorpusFile(nil), applied...)
		applied = append(applied, f)
	}
	chk.Applied = len(applied)
	if len(applied) == 0 {
		return nil, chk, fmt.Errorf("lab: corpus %s: no file applies", pr.Name)
	}
	return applied, chk, nil
}

// corpusGooseName is the name part of the file (after "<version>_").
func corpusGooseName(f *CorpusFile) string {
	name := strings.TrimSuffix(f.Name, ".sql")
	if i := strings.IndexByte(name, '_'); i >= 0 {
		name = name[i+1:]
	}
	return gooseName(name)
}

// buildHistory applies f's history, file by file with plain goose over one
// connection, to the empty database at dsn.
func buildHistory(ctx context.Context, dsn string, f *CorpusFile) error {
	db, err := openGooseDB(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, h := range f.History {
		if _, err := gooseApply(ctx, db, Migration{Version: h.Version, Name: corpusGooseName(h), Source: h.Source}, true); err != nil {
			return fmt.Errorf("lab: history of %s: %s: %w", f.ID(), h.Name, err)
		}
	}
	return nil
}

// CorpusTemplates makes one template per replayable file. Its family is
// "corpus_" plus the project's owner; the author's risk is guessed from how
// the SQL looks (AuthorRiskOf).
func CorpusTemplates(files []*CorpusFile) []Template {
	out := make([]Template, 0, len(files))
	for _, f := range files {
		owner, _, _ := strings.Cut(f.Project, "__")
		t := Template{ID: f.ID(), Family: "corpus_" + owner, Kind: KindCorpus, Up: []string{f.Up}, NoTransaction: f.NoTransaction,
			AuthorRisk: AuthorRiskOf(f.Up), Corpus: f}
		if f.Down != "" {
			t.Down = []string{f.Down}
		}
		out = append(out, t)
	}
	return out
}

// AuthorRiskOf guesses the risk an author would write for SQL they did not
// label, the way authors rate: drops, renames and type changes look scary,
// indexes and new columns routine, new tables harmless.
func AuthorRiskOf(sql string) float64 {
	u := strings.ToUpper(sql)
	r := 1.5
	bump := func(v float64, words ...string) {
		for _, w := range words {
			if strings.Contains(u, w) {
				r = max(r, v)
			}
		}
	}
	bump(2, "CREATE INDEX", "ADD COLUMN", "COMMENT ON")
	bump(3, "ALTER TABLE", "UPDATE ", "INSERT ")
	bump(4, " TYPE ", "SET NOT NULL", "ADD CONSTRAINT", "RENAME")
	bump(6, "DROP TABLE", "DROP COLUMN", "DELETE ", "TRUNCATE")
	return r
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
