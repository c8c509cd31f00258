// Command upstream is the one backend every proxy in the benchmark forwards to.
//
// It listens on one or more addresses (e.g. blue and green ports) and answers by the
// last path segment, whatever prefix the proxy route added:
//
//	…/health  200 "ok"
//	…/big     200, a 100 KiB body
//	…/page    200, a 32 KiB HTML page (text/html), for the compression scenario
//	anything  200, a small (~100 B) body
//
// Every response carries X-Upstream: NAME (the name given for the address it arrived on),
// so a client can tell which color served it. It is built on fasthttp so that it costs
// as little CPU as possible on the load-generator core.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Body sizes the scenarios are defined by.
const (
	smallSize = 100
	bigSize   = 100 << 10
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "comma-separated listen addresses")
	names := flag.String("names", "blue,green", "comma-separated names for the addresses, in the same order")
	flag.Parse()
	addrs := strings.Split(*listen, ",")
	labels := strings.Split(*names, ",")
	if err := run(addrs, labels); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run(addrs, labels []string) error {
	errc := make(chan error, len(addrs))
	for i, addr := range addrs {
		name := fmt.Sprintf("u%d", i)
		if i < len(labels) && labels[i] != "" {
			name = labels[i]
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", addr, err)
		}
		s := newServer(name)
		go func() { errc <- s.Serve(ln) }()
		log.Printf("upstream %s listening on %s", name, ln.Addr())
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// newServer returns a server whose handler answers as described in the package doc.
func newServer(name string) *fasthttp.Server {
	h := &handler{
		name:  []byte(name),
		small: filler(smallSize, "small response from the edge benchmark upstream "),
		big:   filler(bigSize, "0123456789abcdef"),
		page:  renderPage(),
	}
	return &fasthttp.Server{
		Handler:              h.serve,
		Name:                 "bench-upstream",
		NoDefaultDate:        true,
		NoDefaultContentType: true,
		ReadTimeout:          60 * time.Second,
		IdleTimeout:          120 * time.Second,
		Concurrency:          100000,
	}
}

type handler struct {
	name, small, big, page []byte
}

var (
	ctText   = []byte("text/plain; charset=utf-8")
	okBody   = []byte("ok\n")
	hdrColor = []byte("X-Upstream")
)

func (h *handler) serve(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentTypeBytes(ctText)
	ctx.Response.Header.SetBytesKV(hdrColor, h.name)
	p := ctx.Path()
	switch {
	case hasLastSegment(p, "health"):
		ctx.SetBody(okBody)
	case hasLastSegment(p, "big"):
		ctx.SetBody(h.big)
	case hasLastSegment(p, "page"):
		ctx.Response.Header.SetContentTypeBytes(ctHTML)
		ctx.SetBody(h.page)
	default:
		ctx.SetBody(h.small)
	}
}

// hasLastSegment reports whether path ends in "/"+seg.
func hasLastSegment(path []byte, seg string) bool {
	n := len(path) - len(seg)
	return n >= 1 && path[n-1] == '/' && string(path[n:]) == seg
}

// filler returns exactly size bytes made of pattern repeated, ending in a newline.
func filler(size int, pattern string) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = pattern[i%len(pattern)]
	}
	b[size-1] = '\n'
	return b
}
