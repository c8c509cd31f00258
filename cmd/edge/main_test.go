package main

import (
	"os"
	"testing"

	"github.com/edge-server/edge/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
