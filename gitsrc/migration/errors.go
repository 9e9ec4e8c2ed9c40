package migration

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Sentinel kinds of migration problems. A *MigrationError wraps exactly one of
// them, so callers branch with errors.Is(err, gitsrc.ErrMissingDown) and still
// get the file and line from errors.As.
var (
	// ErrFrontMatter: the front-matter block is malformed, has unknown keys,
	// or lacks a valid risk score.
	ErrFrontMatter = errors.New("invalid front matter")
	// ErrGooseSyntax: goose itself would refuse the file (bad annotation,
	// missing Up, unterminated statement, missing StatementEnd).
	ErrGooseSyntax = errors.New("invalid goose migration")
	// ErrMissingDown: the file has no "-- +goose Down" section.
	ErrMissingDown = errors.New("missing -- +goose Down section")
	// ErrGoMigration: a Go migration; schemacanary only handles SQL files.
	ErrGoMigration = errors.New("go migrations are not supported")
	// ErrBadFilename: the file name does not start with a numeric version.
	ErrBadFilename = errors.New("file name is not VERSION_name.sql")
	// ErrDuplicateVersion: two files share one version number.
	ErrDuplicateVersion = errors.New("duplicate version")
	// ErrOutOfOrder: a new file's version is lower than one already merged.
	ErrOutOfOrder = errors.New("version lower than an already merged migration")
	// ErrChecksumDrift: an already merged migration was edited.
	ErrChecksumDrift = errors.New("already merged migration was edited")
	// ErrDeleted: an already merged migration was deleted.
	ErrDeleted = errors.New("already merged migration was deleted")
	// ErrTooLarge: the file is larger than the size limit (WithMaxFileBytes,
	// CheckFileSize); it is not read, parsed or applied.
	ErrTooLarge = errors.New("migration file too large")
)

// MigrationError is a problem with one migration file. File is the path
// relative to the repository root (or as given to ParseMigration); Line is
// 1-based and 0 when the problem concerns the whole file.
type MigrationError struct {
	File string
	Line int
	Kind error // one of the Err* sentinels above
	Msg  string
	// Commit is the sha of the commit that introduced the problem, when
	// it was found in history (Changes, Proposals); "" for ParseMigration.
	Commit string
}

// Error formats as "file:line: kind: msg", the way compilers do, so editors and
// CI annotations can jump to the spot.
func (e *MigrationError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Msg == "" {
		return fmt.Sprintf("%s: %v", loc, e.Kind)
	}
	return fmt.Sprintf("%s: %v: %s", loc, e.Kind, e.Msg)
}

// Unwrap returns the sentinel kind.
func (e *MigrationError) Unwrap() error { return e.Kind }

// Errorf returns a *MigrationError of kind (one of the Err* sentinels) at
// file:line (line 0: the whole file) with a formatted message.
func Errorf(file string, line int, kind error, format string, args ...any) *MigrationError {
	return &MigrationError{File: file, Line: line, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// KindName returns a stable snake_case name for the sentinel kind a
// *MigrationError wraps ("front_matter", "goose_syntax", "missing_down",
// "go_migration", "bad_filename", "duplicate_version", "out_of_order",
// "checksum_drift", "deleted", "too_large"), or "" for other errors. JSON
// output and metrics use it.
func KindName(err error) string {
	for _, k := range kindNames {
		if errors.Is(err, k.kind) {
			return k.name
		}
	}
	return ""
}

var kindNames = [...]struct {
	kind error
	name string
}{
	{ErrFrontMatter, "front_matter"},
	{ErrGooseSyntax, "goose_syntax"},
	{ErrMissingDown, "missing_down"},
	{ErrGoMigration, "go_migration"},
	{ErrBadFilename, "bad_filename"},
	{ErrDuplicateVersion, "duplicate_version"},
	{ErrOutOfOrder, "out_of_order"},
	{ErrChecksumDrift, "checksum_drift"},
	{ErrDeleted, "deleted"},
	{ErrTooLarge, "too_large"},
}

// MarshalJSON writes {"file","line","kind","message","commit","error"},
// with kind from KindName and error the full Error() text.
func (e *MigrationError) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		File    string `json:"file"`
		Line    int    `json:"line,omitempty"`
		Kind    string `json:"kind"`
		Message string `json:"message"`
		Commit  string `json:"commit,omitempty"`
		Error   string `json:"error"`
	}{e.File, e.Line, KindName(e), e.Msg, e.Commit, e.Error()})
}
