package kpi

import (
	"testing"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
