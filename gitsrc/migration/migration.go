package migration

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strconv"
	"strings"
)

// Migration is one goose SQL migration file, parsed and validated.
// It is a plain value: safe to copy and to share between goroutines.
type Migration struct {
	// Version is the numeric prefix of the file name (NNNN or a timestamp).
	Version int64 `json:"version"`
	// Name is the part of the file name after the version, without ".sql".
	Name string `json:"name"`
	// Path is the file's path as given (repository-relative when read from Git).
	Path string `json:"path"`
	// SHA256 is the hex digest of Source; it detects edits of merged files.
	SHA256 string `json:"sha256"`
	// FrontMatter is the author's metadata.
	FrontMatter FrontMatter `json:"front_matter"`
	// Sections are the statements goose would run.
	Sections
	// Source is the file's bytes, exactly as goose would read them.
	Source []byte `json:"-"`
	// Plain marks a plain SQL file (no goose annotations, linted as a
	// third-party file): its single section is Up, reversibility is not
	// judged, and it runs outside a transaction unless the analysis is told
	// otherwise or the file's own BEGIN says so.
	Plain bool `json:"plain,omitempty"`
}

// Filename is the base name goose expects, e.g. "0042_add_note.sql".
func (m *Migration) Filename() string { return path.Base(m.Path) }

// ParseVersion returns the version and name encoded in a goose file name
// such as "0042_add_note.sql" or "20240101120000_init.sql".
func ParseVersion(file string) (version int64, name string, err error) {
	base := path.Base(file)
	if strings.HasSuffix(base, ".go") {
		return 0, "", Errorf(file, 0, ErrGoMigration, "schemacanary only takes SQL migrations; port %s to a .sql file", base)
	}
	if !strings.HasSuffix(base, ".sql") {
		return 0, "", Errorf(file, 0, ErrBadFilename, "not a .sql file")
	}
	stem := strings.TrimSuffix(base, ".sql")
	num, rest, ok := strings.Cut(stem, "_")
	if !ok {
		// goose's NumericComponent requires the separator too.
		return 0, "", Errorf(file, 0, ErrBadFilename, "%q has no \"_\" after the version (want VERSION_name.sql)", base)
	}
	v, perr := strconv.ParseInt(num, 10, 64)
	if perr != nil || v < 1 {
		return 0, "", Errorf(file, 0, ErrBadFilename, "%q does not start with a positive version number", base)
	}
	return v, rest, nil
}

// ParseMigration parses and validates one goose SQL migration: a version in
// the file name, front matter with a risk score, goose sections as goose reads
// them, and a Down section. Every problem is a *MigrationError naming the file
// and line.
func ParseMigration(file string, src []byte) (*Migration, error) {
	m, err := ParseLenient(file, src)
	if err != nil {
		return nil, err
	}
	fm, found, _, err := parseFrontMatter(file, src)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, Errorf(file, 1, ErrFrontMatter, "no front matter: the file must start with a \"-- ---\" block that sets risk (1..10)")
	}
	if !m.HasDown {
		return nil, Errorf(file, m.UpLine, ErrMissingDown, "add a '-- +goose Down' section that undoes the Up section")
	}
	m.FrontMatter = fm
	return m, nil
}

// ParseLenient parses a goose SQL file without requiring front matter or a
// Down section, for linting third-party files. Front matter, when present,
// is still parsed strictly. Goose syntax errors are still errors.
func ParseLenient(file string, src []byte) (*Migration, error) {
	v, name, err := ParseVersion(file)
	if err != nil {
		return nil, err
	}
	fm, _, _, err := parseFrontMatter(file, src)
	if err != nil {
		return nil, err
	}
	secs, err := ParseSections(file, src)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(src)
	return &Migration{
		Version:     v,
		Name:        name,
		Path:        file,
		SHA256:      hex.EncodeToString(sum[:]),
		FrontMatter: fm,
		Sections:    *secs,
		Source:      append([]byte(nil), src...),
	}, nil
}
