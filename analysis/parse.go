package analysis

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// parsedStmt is one statement as the PostgreSQL parser sees it, located in
// the file.
type parsedStmt struct {
	node *pgast.Node
	sql  string
	line int
	col  int
	// off is the statement's byte offset inside its chunk.
	off int
	// src is the text the parser was given and base its offset inside the
	// chunk: a node's Location is a byte offset into src.
	src  string
	base int
}

// syntaxErr is a parse failure located in the file.
type syntaxErr struct {
	msg       string
	line, col int
}

// parseChunk parses one goose statement (which may hold several SQL
// statements) and locates every parsed statement in the file. When the
// chunk does not parse as a whole, it is split with the scanner and each
// piece is parsed alone, so one bad statement does not hide the others.
func parseChunk(st migration.Statement) ([]parsedStmt, []syntaxErr) {
	res, err := pgast.Parse(st.SQL)
	if err == nil {
		return located(st, st.SQL, res, 0), nil
	}
	pieces, serr := parser.SplitWithScanner(st.SQL, false)
	if serr != nil || len(pieces) <= 1 {
		return nil, []syntaxErr{locateErr(st, st.SQL, 0, err)}
	}
	var (
		out  []parsedStmt
		errs []syntaxErr
		off  int
	)
	for _, p := range pieces {
		start := strings.Index(st.SQL[off:], p)
		if start < 0 {
			start = 0
		}
		base := off + start
		off = base + len(p)
		if strings.TrimSpace(p) == "" {
			continue
		}
		r, perr := pgast.Parse(p)
		if perr != nil {
			errs = append(errs, locateErr(st, p, base, perr))
			continue
		}
		out = append(out, located(st, p, r, base)...)
	}
	return out, errs
}

func located(st migration.Statement, parsed string, res *pgast.ParseResult, base int) []parsedStmt {
	src := st.SQL
	out := make([]parsedStmt, 0, len(res.Stmts))
	for _, raw := range res.Stmts {
		loc := base + int(raw.StmtLocation)
		end := len(src)
		if raw.StmtLen > 0 && loc+int(raw.StmtLen) <= len(src) {
			end = loc + int(raw.StmtLen)
		}
		if loc > len(src) {
			loc = len(src)
		}
		text := src[loc:end]
		// The parser's location includes leading whitespace and comments;
		// locate the first token for line/column.
		first := loc + leadingTrivia(text)
		line, col := position(st, first)
		out = append(out, parsedStmt{node: raw.Stmt, sql: strings.TrimSpace(text), line: line, col: col, off: loc, src: parsed, base: base})
	}
	return out
}

// leadingTrivia returns the byte length of whitespace and comments at the
// start of s.
func leadingTrivia(s string) int {
	i := 0
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r':
			i++
		case strings.HasPrefix(s[i:], "--"):
			nl := strings.IndexByte(s[i:], '\n')
			if nl < 0 {
				return len(s)
			}
			i += nl + 1
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return len(s)
			}
			i += end + 4
		default:
			return i
		}
	}
	return i
}

// position maps a byte offset inside st.SQL to a 1-based file line and column.
func position(st migration.Statement, off int) (line, col int) {
	if off > len(st.SQL) {
		off = len(st.SQL)
	}
	before := st.SQL[:off]
	nl := strings.Count(before, "\n")
	lastNL := strings.LastIndexByte(before, '\n')
	col = utf8.RuneCountInString(before[lastNL+1:]) + 1
	base := st.Line
	if base < 1 {
		base = 1
	}
	return base + nl, col
}

// locateErr turns a parser error into a file position. The parser's cursor
// is a 1-based character index into the text it was given.
func locateErr(st migration.Statement, text string, base int, err error) syntaxErr {
	var pe *parser.Error
	off := base
	msg := err.Error()
	if errors.As(err, &pe) {
		msg = pe.Message
		if pe.Cursorpos > 0 {
			off = base + byteOffset(text, pe.Cursorpos-1)
		} else {
			off = base + leadingTrivia(text)
		}
	}
	line, col := position(st, off)
	return syntaxErr{msg: msg, line: line, col: col}
}

// byteOffset converts a character index into a byte offset of s.
func byteOffset(s string, chars int) int {
	i := 0
	for n := 0; n < chars && i < len(s); n++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return i
}
