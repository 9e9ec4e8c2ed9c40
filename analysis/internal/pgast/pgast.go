// Package pgast is PostgreSQL's parse tree as plain Go values: SQL is
// parsed by pg_query's parser (libpg_query, the real PostgreSQL grammar),
// and its protobuf output decoded into structs with pg_query_go's names,
// fields and getters (Node, AlterTableStmt, GetRangeVar, ...).
//
// pg_query_go's own types are protobuf messages: importing them builds
// descriptors for ~270 messages and 70 enums at start-up, and
// proto.Unmarshal builds a reflective decoder for each message type the
// first time it meets one. A daemon pays that once; `schemacanary lint`
// pays it on every run, and it was most of a lint run's cost. The types
// and decoders here are generated from pg_query_go's descriptors (gen.go,
// go generate) and carry no protobuf runtime; TestDecodeMatchesPgQuery
// proves them equal to pg_query.Parse's result on ~600 real migration files.
package pgast

//go:generate go run gen.go

import (
	"errors"
	"fmt"

	"github.com/pganalyze/pg_query_go/v6/parser"
)

// maxDepth bounds message nesting like protobuf-go's default recursion
// limit; PostgreSQL's own stack-depth check normally stops far earlier.
const maxDepth = 10000

var errDepth = errors.New("pgast: parse tree nested deeper than 10000 messages")

// Parse parses input into its statements, like pg_query.Parse. A syntax error is returned as
// pg_query's *parser.Error, with the cursor position.
func Parse(input string) (*ParseResult, error) {
	b, err := parser.ParseToProtobuf(input)
	if err != nil {
		return nil, err
	}
	res := &ParseResult{}
	if err := decodeParseResult(b, res, 0); err != nil {
		return nil, fmt.Errorf("decode parse tree: %w", err)
	}
	return res, nil
}

// Scan tokenizes input like pg_query.Scan.
func Scan(input string) (*ScanResult, error) {
	b, err := parser.ScanToProtobuf(input)
	if err != nil {
		return nil, err
	}
	res := &ScanResult{}
	if err := decodeScanResult(b, res, 0); err != nil {
		return nil, fmt.Errorf("decode scan result: %w", err)
	}
	return res, nil
}
