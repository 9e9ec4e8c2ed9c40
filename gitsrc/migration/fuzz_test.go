package migration

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParseSections(f *testing.F) {
	f.Add("-- +goose Up\nCREATE TABLE t (id int);\n-- +goose Down\nDROP TABLE t;\n")
	f.Add("-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;\n-- +goose StatementEnd\n")
	f.Add("-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (a);\n")
	f.Add("-- +goose Up\nSELECT 1\n-- +goose Down\n")
	f.Fuzz(func(t *testing.T, src string) {
		s, err := ParseSections("f.sql", []byte(src))
		if err != nil {
			var me *MigrationError
			if !errors.As(err, &me) || !errors.Is(err, ErrGooseSyntax) {
				t.Fatalf("error is not a *MigrationError of kind ErrGooseSyntax: %v", err)
			}
			return
		}
		lines := strings.Count(src, "\n") + 1
		for _, st := range append(append([]Statement{}, s.Up...), s.Down...) {
			if st.Line < 1 || st.Line > lines {
				t.Fatalf("statement line %d outside file of %d lines", st.Line, lines)
			}
			// An empty StatementBegin/End block makes goose emit an
			// empty statement; that is the one case SQL may be blank.
			if strings.TrimSpace(st.SQL) == "" && !strings.Contains(src, "StatementEnd") {
				t.Fatalf("empty statement at line %d", st.Line)
			}
		}
	})
}

func FuzzParseFrontMatter(f *testing.F) {
	f.Add("-- ---\n-- risk: 3\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n")
	f.Add("-- ---\n-- risk: 11\n-- owner: x\n-- ---\n")
	f.Add("-- ---\n-- risk: [\n-- ---\n")
	f.Add("-- ---\n-- bake: 15m\n-- risk: 2\n-- allow_data_loss: true\n-- ---\n")
	f.Fuzz(func(t *testing.T, src string) {
		fm, found, end, err := parseFrontMatter("f.sql", []byte(src))
		if err != nil {
			var me *MigrationError
			if !errors.As(err, &me) || !errors.Is(err, ErrFrontMatter) {
				t.Fatalf("error is not a *MigrationError of kind ErrFrontMatter: %v", err)
			}
			if me.Line < 1 || me.Line > strings.Count(src, "\n")+1 {
				t.Fatalf("error line %d outside the file", me.Line)
			}
			return
		}
		if found && (fm.Risk < 1 || fm.Risk > 10 || end < 2) {
			t.Fatalf("accepted front matter with risk %d, end %d", fm.Risk, end)
		}
	})
}
