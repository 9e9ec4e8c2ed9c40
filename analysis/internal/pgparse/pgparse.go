// Package pgparse parses SQL with pg_query's PostgreSQL parser and decodes
// the parse tree into pg_query_go's Go types without protobuf reflection.
//
// pg_query.Parse hands libpg_query's protobuf output to proto.Unmarshal,
// which builds a reflective decoder for every message type the first time
// it meets it. For a long-lived process that is free; for one run of
// `schemacanary lint` it was a third of the analysis time (PostgreSQL's
// parse tree has ~270 node types). The decoders in decode_gen.go are
// generated from pg_query_go's own descriptors (gen.go) and produce the same
// values, field for field (TestDecodeMatchesProtoUnmarshal), with no set-up
// cost.
package pgparse

//go:generate go run gen.go

import (
	"errors"
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// maxDepth bounds message nesting like protobuf-go's default recursion
// limit; PostgreSQL's own stack-depth check normally stops far earlier.
const maxDepth = 10000

var errDepth = errors.New("pgparse: parse tree nested deeper than 10000 messages")

// Parse parses input like pg_query.Parse. A syntax error is returned as
// pg_query's *parser.Error, with the cursor position.
func Parse(input string) (*pg_query.ParseResult, error) {
	b, err := parser.ParseToProtobuf(input)
	if err != nil {
		return nil, err
	}
	res := &pg_query.ParseResult{}
	if err := decodeParseResult(b, res, 0); err != nil {
		return nil, fmt.Errorf("decode parse tree: %w", err)
	}
	return res, nil
}

// Scan tokenizes input like pg_query.Scan.
func Scan(input string) (*pg_query.ScanResult, error) {
	b, err := parser.ScanToProtobuf(input)
	if err != nil {
		return nil, err
	}
	res := &pg_query.ScanResult{}
	if err := decodeScanResult(b, res, 0); err != nil {
		return nil, fmt.Errorf("decode scan result: %w", err)
	}
	return res, nil
}
