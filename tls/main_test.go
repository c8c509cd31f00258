package edgetls_test

import (
	"os"
	"testing"

	"github.com/edge-server/edge/internal/pgtest"
)

func TestMain(m *testing.M) {
	if lockHelper() || answerHelper() {
		return
	}
	os.Exit(pgtest.Main(m))
}
