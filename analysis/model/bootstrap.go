package model

import (
	_ "embed"
	"errors"
	"fmt"
)

// bootstrapJSON is the model trained on the committed lab dataset
// (lab.jsonl.gz beside this file) by
//
//	schemacanary train --data analysis/model/lab.jsonl.gz --out analysis/model/bootstrap.json
//
//go:embed bootstrap.json
var bootstrapJSON []byte

// labJSONL is the lab dataset the bootstrap model was trained on.
//
//go:embed lab.jsonl.gz
var labJSONL []byte

// LabData returns the embedded lab dataset (gzip JSON lines of
// analysis/lab records): what a retrained model learns from besides the
// fleet's history. The slice must not be modified.
func LabData() []byte { return labJSONL }

// ErrNoBootstrap is returned by Bootstrap when the binary was built without
// a bootstrap model.
var ErrNoBootstrap = errors.New("model: no bootstrap model embedded")

// Bootstrap decodes the embedded bootstrap model, the one to use until the
// daemon has trained on history of its own. Each call returns a fresh copy.
func Bootstrap() (*Model, error) {
	if len(bootstrapJSON) < 8 {
		return nil, ErrNoBootstrap
	}
	m, err := Unmarshal(bootstrapJSON)
	if err != nil {
		return nil, fmt.Errorf("bootstrap model: %w", err)
	}
	return m, nil
}
