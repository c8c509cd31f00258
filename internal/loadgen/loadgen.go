// Package loadgen is a keep-alive HTTP/1.1 load generator for tests that must count
// failures exactly, the way wrk does: connect errors (refused), socket errors (write,
// read, or the connection ending before a whole response), and non-2xx answers. Each
// connection sends one request, reads the whole response, and sends the next on the
// same connection; it reconnects only after a response said `Connection: close`, or
// after an error. Raw sockets, no client library that would retry behind its back.
package loadgen

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Config describes the load. Conns connections send GET Path with Host to Addr.
type Config struct {
	Addr, Host, Path string
	// Conns is the number of concurrent keep-alive connections. Default 16.
	Conns int
	// Think returns the pause after each response on connection i. nil = back-to-back.
	Think func(i int) time.Duration
	// Timeout bounds each connect, write and read. Default 10s.
	Timeout time.Duration
	// TLS, when set, makes every connection HTTPS; a failed handshake counts as refused.
	TLS *tls.Config
}

// Counts is what the load saw so far.
type Counts struct {
	OK           int64 // 2xx responses
	Closes       int64 // responses carrying Connection: close
	Refused      int64 // connect errors
	SocketErrors int64 // write or read errors, EOF before a whole response
	Non2xx       int64 // complete responses with another status
	FirstErrors  []string
}

// Errors is every failure counted.
func (c Counts) Errors() int64 { return c.Refused + c.SocketErrors + c.Non2xx }

func (c Counts) String() string {
	return fmt.Sprintf("%d ok, %d Connection: close, %d refused, %d socket errors, %d non-2xx",
		c.OK, c.Closes, c.Refused, c.SocketErrors, c.Non2xx)
}

// Load is a running load generator.
type Load struct {
	cfg                                   Config
	ok, closes, refused, sockErrs, non2xx atomic.Int64
	mu                                    sync.Mutex
	firstErrs                             []string
	stop                                  chan struct{}
	wg                                    sync.WaitGroup
}

// Start starts the connections at once.
func Start(cfg Config) *Load {
	if cfg.Conns <= 0 {
		cfg.Conns = 16
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	l := &Load{cfg: cfg, stop: make(chan struct{})}
	for i := 0; i < cfg.Conns; i++ {
		var think time.Duration
		if cfg.Think != nil {
			think = cfg.Think(i)
		}
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.run(think) }()
	}
	return l
}

// Counts returns the counts so far.
func (l *Load) Counts() Counts {
	l.mu.Lock()
	errs := append([]string(nil), l.firstErrs...)
	l.mu.Unlock()
	return Counts{OK: l.ok.Load(), Closes: l.closes.Load(), Refused: l.refused.Load(),
		SocketErrors: l.sockErrs.Load(), Non2xx: l.non2xx.Load(), FirstErrors: errs}
}

// Stop ends the load (requests in flight finish first) and returns the final counts.
func (l *Load) Stop() Counts {
	close(l.stop)
	l.wg.Wait()
	return l.Counts()
}

func (l *Load) fail(n *atomic.Int64, what string, err error) {
	n.Add(1)
	l.mu.Lock()
	if len(l.firstErrs) < 10 {
		l.firstErrs = append(l.firstErrs, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), what, err))
	}
	l.mu.Unlock()
}

func (l *Load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *Load) dial() (net.Conn, error) {
	d := &net.Dialer{Timeout: l.cfg.Timeout}
	if l.cfg.TLS != nil {
		return tls.DialWithDialer(d, "tcp", l.cfg.Addr, l.cfg.TLS)
	}
	return d.Dial("tcp", l.cfg.Addr)
}

func (l *Load) run(think time.Duration) {
	req := []byte("GET " + l.cfg.Path + " HTTP/1.1\r\nHost: " + l.cfg.Host + "\r\n\r\n")
	var resp fasthttp.Response
	for !l.stopped() {
		c, err := l.dial()
		if err != nil {
			l.fail(&l.refused, "connect", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		br := bufio.NewReader(c)
		for !l.stopped() {
			_ = c.SetDeadline(time.Now().Add(l.cfg.Timeout))
			if _, err := c.Write(req); err != nil {
				l.fail(&l.sockErrs, "write", err)
				break
			}
			resp.Reset()
			if err := resp.Read(br); err != nil {
				l.fail(&l.sockErrs, "read", err)
				break
			}
			if resp.StatusCode()/100 == 2 {
				l.ok.Add(1)
			} else {
				l.fail(&l.non2xx, "status", fmt.Errorf("%d %.80s", resp.StatusCode(), resp.Body()))
			}
			if resp.ConnectionClose() {
				l.closes.Add(1)
				break
			}
			if think > 0 {
				time.Sleep(think)
			}
		}
		c.Close()
	}
}
