package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrInventory is wrapped when the inventory database cannot be read or
// one of its rows is not a valid target.
var ErrInventory = errors.New("fleet.inventory")

// inventoryColumns are the columns an inventory query may return.
var inventoryColumns = map[string]bool{"name": true, "dsn": true, "group": true, "grp": true, "labels": true, "data_dir": true, "schema": true}

// targets runs the inventory query in a read-only transaction and returns
// one instance per row. Every row's problem is reported, each naming the
// row; the query's own error is reported as PostgreSQL gave it.
func (inv InventoryConfig) targets(ctx context.Context, secrets func(string)) ([]Instance, error) {
	dsn, err := readRef(inv.DSNEnv, inv.DSNFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrInventory, ErrDSN, err)
	}
	secrets(dsn)
	ctx, cancel := context.WithTimeout(ctx, inv.Timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: connect: %w", ErrInventory, err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("%w: begin: %w", ErrInventory, err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read only
	rows, err := tx.Query(ctx, inv.Query)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %w", ErrInventory, err)
	}
	defer rows.Close()
	if len(rows.FieldDescriptions()) == 0 {
		rows.Close() // an error the server sent after the query was sent
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("%w: query: %w", ErrInventory, err)
		}
	}
	var cols []string
	for _, fd := range rows.FieldDescriptions() {
		cols = append(cols, fd.Name)
	}
	if err := checkColumns(cols); err != nil {
		return nil, err
	}
	var out []Instance
	var errs []error
	for n := 1; rows.Next(); n++ {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("%w: row %d: %w", ErrInventory, n, err)
		}
		in, err := inventoryRow(cols, vals)
		in.Source = fmt.Sprintf("fleet.inventory row %d", n)
		secrets(in.DSN)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: row %d %s: %w", ErrInventory, n, in.Name, err))
			continue
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: query: %w", ErrInventory, err)
	}
	return out, errors.Join(errs...)
}

// checkColumns requires name and dsn and refuses unknown columns.
func checkColumns(cols []string) error {
	has := map[string]bool{}
	for _, c := range cols {
		if !inventoryColumns[c] {
			return fmt.Errorf("%w: query returns column %q; want name, dsn and optionally group (or grp), labels, data_dir, schema", ErrInventory, c)
		}
		if has[c] || c == "grp" && has["group"] || c == "group" && has["grp"] {
			return fmt.Errorf("%w: query returns column %q twice", ErrInventory, c)
		}
		has[c] = true
	}
	if !has["name"] || !has["dsn"] {
		return fmt.Errorf("%w: query must return the columns name and dsn (got %s)", ErrInventory, strings.Join(cols, ", "))
	}
	return nil
}

// inventoryRow turns one row into an instance. A NULL is an empty value.
func inventoryRow(cols []string, vals []any) (Instance, error) {
	var in Instance
	for i, c := range cols {
		v := vals[i]
		if c == "labels" {
			labels, err := toLabels(v)
			if err != nil {
				return in, fmt.Errorf("labels: %w", err)
			}
			in.Labels = labels
			continue
		}
		s := ""
		if v != nil {
			s = fmt.Sprint(v)
		}
		switch c {
		case "name":
			in.Name = strings.TrimSpace(s)
		case "dsn":
			in.DSN = strings.TrimSpace(s)
		case "group", "grp":
			in.Group = strings.TrimSpace(s)
		case "data_dir":
			in.DataDir = s
		case "schema":
			in.Schema = strings.TrimSpace(s)
		}
	}
	switch {
	case in.Name == "":
		return in, errors.New("name is empty")
	case in.DSN == "":
		return in, errors.New("dsn is empty")
	}
	if err := checkSchemaName(in.Schema); err != nil {
		return in, err
	}
	if in.Group == "" {
		in.Group = DefaultGroup
	}
	return in, nil
}

// toLabels reads a JSON object of strings from a json/jsonb value (decoded
// by pgx) or from text holding one.
func toLabels(v any) (map[string]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if strings.TrimSpace(x) == "" {
			return nil, nil
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(x), &m); err != nil {
			return nil, fmt.Errorf("want a JSON object of strings: %w", err)
		}
		return m, nil
	case map[string]any:
		m := make(map[string]string, len(x))
		for k, val := range x {
			s, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("%s: want a string, got %T", k, val)
			}
			m[k] = s
		}
		return m, nil
	}
	return nil, fmt.Errorf("want json, jsonb or text, got %T", v)
}
