package main

import (
	"os"
	"testing"

	"github.com/edge-server/edge/internal/pgtest"
)

// testChildEnv makes the test binary act as a child process: "edge" runs the edge CLI
// (tests start real `edge run` processes from it, race detector included), "listeners"
// reports what socket activation handed it (listeners_test.go).
const testChildEnv = "EDGE_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(testChildEnv) {
	case "edge":
		os.Exit(runCLI(os.Args[1:], os.Stdout, os.Stderr))
	case "listeners":
		os.Exit(listenersChild())
	}
	os.Exit(pgtest.Main(m))
}
