// Package migration is the Schema Change API: a goose SQL migration file,
// its front matter (risk 1-10, owner, ticket, bake, allow_data_loss), the
// Migration type, and the errors that reject a file, each naming the file
// and line (MigrationError, with one Err* kind).
//
// It is a leaf: it knows nothing of Git, SQL analysis or PostgreSQL, and
// every other package may import it. Parsing follows goose's own reading of
// the file (annotations, StatementBegin/End, NO TRANSACTION), which the
// equivalence test checks against goose itself.
package migration
