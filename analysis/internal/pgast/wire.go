package pgast

import (
	"errors"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// field is one protobuf field read off the wire: its number, wire type,
// and value. Varint and fixed64 values are in v, length-delimited ones in
// raw.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	raw []byte
}

// nextField reads the field at the start of b and returns it with its
// length in bytes, or a negative protowire error code.
func nextField(b []byte) (field, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return field{}, n
	}
	f := field{num: num, typ: typ}
	var m int
	switch typ {
	case protowire.VarintType:
		f.v, m = protowire.ConsumeVarint(b[n:])
	case protowire.Fixed64Type:
		f.v, m = protowire.ConsumeFixed64(b[n:])
	case protowire.BytesType:
		f.raw, m = protowire.ConsumeBytes(b[n:])
	default:
		m = protowire.ConsumeFieldValue(num, typ, b[n:])
	}
	if m < 0 {
		return field{}, m
	}
	return f, n + m
}

// setVarint stores an integer or enum field.
func setVarint[T ~int32 | ~uint32 | ~int64 | ~uint64](f field, p *T) {
	if f.typ == protowire.VarintType {
		*p = T(f.v)
	}
}

func setBool(f field, p *bool) {
	if f.typ == protowire.VarintType {
		*p = protowire.DecodeBool(f.v)
	}
}

func setDouble(f field, p *float64) {
	if f.typ == protowire.Fixed64Type {
		*p = math.Float64frombits(f.v)
	}
}

func setString(f field, p *string) error {
	if f.typ != protowire.BytesType {
		return nil
	}
	s, err := utf8String(f.raw)
	*p = s
	return err
}

func appendString(f field, p *[]string) error {
	if f.typ != protowire.BytesType {
		return nil
	}
	s, err := utf8String(f.raw)
	*p = append(*p, s)
	return err
}

// appendVarints stores a repeated integer field, packed or not.
func appendVarints(f field, p *[]uint64) error {
	switch f.typ {
	case protowire.VarintType:
		*p = append(*p, f.v)
	case protowire.BytesType:
		for b := f.raw; len(b) > 0; {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			*p = append(*p, v)
			b = b[n:]
		}
	}
	return nil
}

// utf8String returns a string field's value; like proto3's decoder it
// rejects invalid UTF-8.
func utf8String(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", errors.New("pgast: string field contains invalid UTF-8")
	}
	return string(b), nil
}
