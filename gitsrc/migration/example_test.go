package migration_test

import (
	"errors"
	"fmt"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

func ExampleParseMigration() {
	src := []byte(`-- ---
-- risk: 7
-- owner: payments
-- bake: 15m
-- ---
-- +goose Up
ALTER TABLE orders ADD COLUMN note text;
-- +goose Down
ALTER TABLE orders DROP COLUMN note;
`)
	m, err := migration.ParseMigration("migrations/0042_add_note.sql", src)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Version, m.Name, m.FrontMatter.Risk, m.FrontMatter.Owner, m.FrontMatter.Bake)
	fmt.Printf("up line %d: %s\n", m.Up[0].Line, m.Up[0].SQL)

	// Every problem is a *MigrationError naming file and line.
	_, err = migration.ParseMigration("migrations/0043_x.sql", []byte("-- ---\n-- risk: 12\n-- ---\n-- +goose Up\nSELECT 1;\n"))
	var me *migration.MigrationError
	fmt.Println(errors.As(err, &me), errors.Is(err, migration.ErrFrontMatter), me.Line)
	fmt.Println(err)
	// Output:
	// 42 add_note 7 payments 15m0s
	// up line 7: ALTER TABLE orders ADD COLUMN note text;
	// true true 2
	// migrations/0043_x.sql:2: invalid front matter: risk 12 is out of range 1..10
}
