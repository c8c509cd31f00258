package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/valyala/fasthttp"
)

// inlineBodyMax is the largest request body sent in the same write as the head; a
// bigger one is written on its own rather than copied.
const inlineBodyMax = 16 << 10

// maxInterim bounds the 1xx interim responses (100 Continue, 103 Early Hints) edge
// reads and drops before the final answer to one request.
const maxInterim = 8

var errTooManyInterim = fmt.Errorf("the upstream sent more than %d interim (1xx) responses", maxInterim)

// outbound is one request as edge writes it to an upstream: wire holds the head (and
// a small body), body a big body written after it.
type outbound struct {
	wire       []byte
	body       []byte
	idempotent bool
}

var outboundPool = sync.Pool{New: func() any { return &outbound{wire: make([]byte, 0, 1024)} }}

// build fills o from the client's request; it reports whether the client asked to
// close its connection.
func (o *outbound) build(ctx *fasthttp.RequestCtx, t requestTarget, rid []byte) (closeAsked bool) {
	o.wire, closeAsked = appendUpstreamRequest(o.wire[:0], ctx, t, rid, false)
	o.body = ctx.Request.Body()
	if len(o.body) <= inlineBodyMax {
		o.wire = append(o.wire, o.body...)
		o.body = nil
	}
	o.idempotent = idempotent(&ctx.Request.Header)
	return closeAsked
}

func (o *outbound) release() {
	o.body = nil
	if cap(o.wire) > 64<<10 { // a rare big request should not pin its buffer
		o.wire = make([]byte, 0, 1024)
	}
	outboundPool.Put(o)
}

// roundTrip sends o over a pooled (or new) connection to s and reads the answer's
// head into h. When a reused connection turns out dead before an answer it retries
// once, as retryIfErr allows. The caller reads the body from the returned connection
// and gives it back with s.up.put or s.up.discard.
func (s *slot) roundTrip(o *outbound, h *fasthttp.ResponseHeader) (*pconn, error) {
	for attempt := 1; ; attempt++ {
		pc, err := s.up.get()
		if err == nil {
			if err = s.exchange(pc, o, h); err == nil {
				return pc, nil
			}
			s.up.discard(pc)
		}
		if attempt == 2 || !s.retryIfErr(o.idempotent, err) {
			return nil, err
		}
	}
}

// exchange writes o and reads the response head. An upstream may answer before it
// has read the whole request (a 413 to a big upload) and close: when writing fails
// that way, the answer it sent is still read and forwarded.
func (s *slot) exchange(pc *pconn, o *outbound, h *fasthttp.ResponseHeader) error {
	_, werr := pc.c.Write(o.wire)
	if werr == nil && len(o.body) > 0 {
		_, werr = pc.c.Write(o.body)
	}
	if werr != nil {
		if isUnsent(werr) || isTimeout(werr) {
			return fmt.Errorf("sending the request upstream: %w", werr)
		}
		if err := readFinalHead(pc, h); err != nil {
			return fmt.Errorf("sending the request upstream: %w", werr)
		}
		h.SetConnectionClose() // the connection is broken: never reuse it
		return nil
	}
	return readFinalHead(pc, h)
}

func isUnsent(err error) bool {
	return errors.Is(err, errKilledUnsent) || errors.Is(err, errStaleUnsent)
}

// readFinalHead reads the next final response head (interim 1xx ones other than
// 101 are dropped) into h. It first waits for the whole head, scanning each byte once
// however the upstream splits it, so fasthttp parses it once.
func readFinalHead(pc *pconn, h *fasthttp.ResponseHeader) error {
	for range maxInterim + 1 {
		if err := waitHead(pc.br); err != nil {
			return pc.c.readErr(err)
		}
		if err := h.Read(pc.br); err != nil {
			return pc.c.readErr(fmt.Errorf("reading the upstream response head: %w", err))
		}
		if st := h.StatusCode(); st >= 200 || st == fasthttp.StatusSwitchingProtocols || st < 100 {
			return nil
		}
	}
	return errTooManyInterim
}

// waitHead fills br until it holds a whole response head (up to its empty line), or
// fails: end of stream, a read error, or a head that does not fit br, whose size is
// MaxHeaderBytes.
func waitHead(br *bufio.Reader) error {
	scanned := 0
	for {
		b, err := br.Peek(br.Buffered())
		if err == nil && headEnd(b, scanned) {
			return nil
		}
		scanned = max(len(b)-3, 0)
		if br.Buffered() == br.Size() {
			return errHeadTooLarge
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			if len(b) > 0 && errors.Is(err, bufio.ErrBufferFull) {
				return errHeadTooLarge
			}
			return err
		}
	}
}

// headEnd reports whether b, whose first from bytes were already looked at, holds
// the empty line ending a head ("\n\r\n" or "\n\n").
func headEnd(b []byte, from int) bool {
	for {
		i := bytes.IndexByte(b[from:], '\n')
		if i < 0 {
			return false
		}
		j := from + i + 1
		if j < len(b) && b[j] == '\n' || j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n' {
			return true
		}
		from = j
	}
}
