package pgast

import "reflect"

// Walk calls fn for every node message reachable from root (root
// included), depth first, in field order: every pointer to a generated
// struct (a *SelectStmt, a *ColumnRef, ...). When fn returns false the
// node's children are skipped. Walk uses reflection, so it follows every
// field without a hand-written case per node type.
func Walk(root any, fn func(node any) bool) {
	walk(reflect.ValueOf(root), fn, 0)
}

func walk(v reflect.Value, fn func(any) bool, depth int) {
	if depth > maxDepth {
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), fn, depth)
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		e := v.Elem()
		if e.Kind() != reflect.Struct {
			return
		}
		if !fn(v.Interface()) {
			return
		}
		for i := 0; i < e.NumField(); i++ {
			if e.Type().Field(i).IsExported() {
				walk(e.Field(i), fn, depth+1)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), fn, depth+1)
		}
	}
}
