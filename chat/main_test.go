package chat

import (
	"os"
	"testing"

	"github.com/edge-server/edge/internal/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(loadClientEnv) != "" {
		os.Exit(loadClientMain())
	}
	os.Exit(pgtest.Main(m))
}
