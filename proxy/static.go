package proxy

import (
	"fmt"
	"os"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

//lint:ignore U1000 the router calls it once the proxy core lands.
// newStaticHandler serves files under cfg.Root for a route mounted at prefix.
func newStaticHandler(prefix string, cfg StaticConfig, log *zap.Logger) (fasthttp.RequestHandler, error) {
	if _, err := os.Stat(cfg.Root); err != nil {
		log.Warn("static directory is not there yet; its routes answer 404", zap.String("root", cfg.Root), zap.Error(err))
	}
	fs := &fasthttp.FS{
		Root:               cfg.Root,
		IndexNames:         []string{"index.html"},
		GenerateIndexPages: false,
		Compress:           cfg.Compress,
		AcceptByteRange:    true,
		PathRewrite:        fasthttp.NewPathPrefixStripper(len(prefix) - 1),
	}
	if prefix == "" || prefix[0] != '/' {
		return nil, fmt.Errorf("static route prefix %q must start with /", prefix)
	}
	if prefix == "/" {
		fs.PathRewrite = nil
	}
	return fs.NewRequestHandler(), nil
}
