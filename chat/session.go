package chat

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/wsproto"
)

// session is one WebSocket connection. One goroutine reads (and handles) frames; a
// writer goroutine exists only while frames are queued. An idle session holds no
// buffers: just this struct and its socket, and, unless it is parked between frames
// (session_park.go), the reader's small stack.
type session struct {
	h    *Hub
	conn net.Conn // reads and writes
	raw  net.Conn // closing it ends the connection
	user User
	ip   netip.Addr

	// Owned by the reader goroutine.
	prefix   []byte  // bytes read by the HTTP server before the upgrade (rare)
	ahead    *[]byte // pooled read-ahead buffer, held only while it has unread bytes
	aheadPos int
	aheadEnd int
	busy     bool // a frame is being read: fill the read-ahead buffer (see Read)
	hdr      [8]byte
	limiter  bucket
	abuse    bucket
	joined   []*member
	frag     *[]byte // fragmented message being assembled
	fragOp   byte
	fragging bool
	authErr  *Error
	detached bool // the socket is ours (a duplicate), not fasthttp's hijacked conn
	sent     bool // the frame just handled queued a send (set on the worker; see waitRoom)
	canPark  bool // the reader may park between frames (session_park.go)
	parkFD   int
	wake     func()

	lastRead atomic.Int64 // unix ns of the last frame received
	pingAt   atomic.Int64 // unix ns of the last ping sent

	mu          sync.Mutex
	queue       [][]byte
	qbytes      int
	writing     bool
	closing     bool          // a close frame is queued; nothing else is accepted
	closeQueued bool          // the close frame is in queue, not yet written
	dead        bool          // the socket is (being) closed
	closeOnIdle bool          // close the socket once the queue is written
	flushed     chan struct{} // closed when the current writer goroutine exits
	direct      *directWriter // plain TCP only: write at once when nothing is queued
	headPartial bool          // queue[0] is the rest of a frame a direct write began
	corked      bool          // the deliverer writes the queue when its delivery is done
	flushDue    bool          // TLS: a directly written record is pending in the Conn; the writer flushes it
	parked      bool          // no reader goroutine: the idle poller watches the socket
}

const closeGrace = 2 * time.Second

// action is what the reader does after a frame was handled.
type action uint8

const (
	actContinue   action = iota
	actStop              // the connection is over
	actAwaitClose        // we sent a close frame: wait briefly for the peer's, then stop
)

// Read implements io.Reader for the frame decoder: first any bytes the HTTP server had
// already buffered, then the read-ahead buffer, then the socket. While a frame is being
// read (busy), small reads go through a pooled read-ahead buffer so that one syscall
// takes the rest of the frame and whatever frames follow it; the buffer is returned to
// its pool as soon as it is drained, so an idle connection (waiting for the next header
// with a direct 2-byte read) holds none.
func (s *session) Read(p []byte) (int, error) {
	if len(s.prefix) > 0 {
		n := copy(p, s.prefix)
		s.prefix = s.prefix[n:]
		if len(s.prefix) == 0 {
			s.prefix = nil
		}
		return n, nil
	}
	if s.ahead != nil {
		n := copy(p, (*s.ahead)[s.aheadPos:s.aheadEnd])
		s.aheadPos += n
		if s.aheadPos == s.aheadEnd {
			s.dropAhead()
		}
		return n, nil
	}
	if !s.busy || len(p) >= readAheadSize {
		return s.conn.Read(p)
	}
	b := getBuf(readAheadSize)
	n, err := s.conn.Read((*b)[:readAheadSize])
	if n <= 0 {
		putBuf(b)
		return 0, err
	}
	c := copy(p, (*b)[:n])
	if c < n {
		s.ahead, s.aheadPos, s.aheadEnd = b, c, n
	} else {
		putBuf(b)
	}
	return c, err
}

// readHeader reads the two bytes every frame header starts with. A reader the poller
// has just woken knows bytes are waiting, so its first read goes through the read-ahead
// buffer: one syscall usually takes the whole frame. Any further read (half a header,
// then silence) is a direct one, so a reader blocked there holds no buffer.
func (s *session) readHeader(woken bool) error {
	s.busy = woken
	n, err := s.Read(s.hdr[:2])
	s.busy = false
	if n == 2 {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = io.ReadFull(s, s.hdr[n:2])
	return err
}

// frameBuffered reports whether the rest of the frame whose header is s.hdr[:2] is in
// the read-ahead buffer already, so that reading it cannot block.
func (s *session) frameBuffered() bool {
	if s.ahead == nil || len(s.prefix) > 0 {
		return false
	}
	b := (*s.ahead)[s.aheadPos:s.aheadEnd]
	ext := wsproto.ExtLenBytes(s.hdr[1])
	if len(b) < ext {
		return false
	}
	n := wsproto.PayloadLen(s.hdr[1], b[:ext])
	if !wsproto.ValidLen(n) {
		return false // refused by readFrameRest before it reads on
	}
	need := uint64(ext) + n
	if s.hdr[1]&0x80 != 0 {
		need += 4 // the mask key
	}
	return uint64(len(b)) >= need
}

// readAheadSize is one pooled buffer class (bufPools).
const readAheadSize = 2048

func (s *session) dropAhead() {
	putBuf(s.ahead)
	s.ahead, s.aheadPos, s.aheadEnd = nil, 0, 0
}

// greet queues the first frames: welcome, or the token error and a 4001 close (4003
// for a banned user or address).
func (s *session) greet() {
	if s.authErr == nil {
		// Checked once registered: a ban stored after this check closes the session
		// when it is enforced, one stored before it is seen here.
		s.authErr = s.h.mod.banned(s.user.ID, s.ip)
	}
	if s.authErr != nil {
		s.enqueue(errFrame(s.authErr, "", ""))
		if s.authErr.Code == CodeBanned {
			s.closeWith(CloseBanned, "banned")
			return
		}
		s.closeWith(CloseUnauthorized, "unauthorized")
		return
	}
	s.enqueue(encodeFrame(welcomeFrame{Type: "welcome", User: s.user}))
}

// run is the reader: it returns when the connection is over (after cleaning up) or
// when the session was parked (the poller runs it again when the socket is readable).
// A reader resumed by the poller (woken) reads before it may park again: the socket is
// readable, and parking it again unread would wake it again at once.
func (s *session) run() { s.runReader(false) }

func (s *session) runReader(woken bool) {
	if s.read(woken) {
		return
	}
	s.cleanup()
}

// read is the reader loop; it reports whether it ended by parking. It only reads: each
// frame is handled on a worker goroutine (Hub.process), so that this goroutine's stack
// stays at its initial 2 KiB while it waits.
func (s *session) read(woken bool) (parked bool) {
	cfg := &s.h.cfg
	for first := true; ; first = false {
		// Idle wait: no deadline (liveness is the pinger's job).
		if !(first && woken) && s.parkIdle() {
			return true
		}
		if err := s.readHeader(first && woken); err != nil {
			return false
		}
		s.busy = true
		s.lastRead.Store(time.Now().UnixNano())
		closing := s.isClosing()
		// The rest of a frame must come within FrameTimeout, unless it is here already.
		deadline := !closing && !s.frameBuffered()
		if deadline {
			_ = s.conn.SetReadDeadline(time.Now().Add(cfg.FrameTimeout))
		}
		f, err := readFrameRest(s, &s.hdr, cfg.MaxFrameBytes)
		if err != nil {
			s.readFailed(err)
			return false
		}
		if closing || s.isClosing() {
			// Only the peer's close (or EOF / the grace deadline) matters now.
			putBuf(f.pooled)
			if f.op == opClose {
				return false
			}
			continue
		}
		if deadline {
			_ = s.conn.SetReadDeadline(time.Time{})
		}
		act := s.h.process(s, f)
		putBuf(f.pooled)
		if s.sent {
			s.sent = false
			s.h.writer.waitRoom() // a full batch waits: let the writer catch up first
		}
		if act == actContinue && s.isClosing() {
			act = actAwaitClose // e.g. refused once too often: 1008 is on its way
		}
		switch act {
		case actStop:
			return false
		case actAwaitClose:
			s.awaitClose()
			return false
		}
	}
}

func (s *session) readFailed(err error) {
	var ce *closeError
	if errors.As(err, &ce) {
		if ce.code == CloseTooBig {
			s.enqueue(errFrame(errorf(CodeTooLarge, "frames are limited to %d bytes", s.h.cfg.MaxFrameBytes), "", ""))
		}
		s.closeWith(ce.code, ce.reason)
		s.awaitClose()
		return
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
		if ce := s.h.log.Check(zap.DebugLevel, "chat connection read failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
	}
}

// awaitClose gives the peer a moment to answer our close frame before the socket closes.
func (s *session) awaitClose() {
	_ = s.conn.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		if _, err := io.ReadFull(s, s.hdr[:2]); err != nil {
			return
		}
		f, err := readFrameRest(s, &s.hdr, s.h.cfg.MaxFrameBytes)
		if err != nil {
			return
		}
		putBuf(f.pooled)
		if f.op == opClose {
			return
		}
	}
}

// handleFrame handles one frame and says what the reader does next.
func (s *session) handleFrame(f frame) action {
	switch f.op {
	case opPing:
		s.enqueue(appendFrame(nil, opPong, f.payload))
		return actContinue
	case opPong:
		return actContinue
	case opClose:
		// Echo a valid code, answer 1000 to none, 1002 to a malformed payload; never
		// send 1005/1006/1015 (RFC 6455 7.4.1).
		reason := ""
		code := wsproto.CloseReply(f.payload)
		if code == wsproto.CloseProtocolError {
			reason = "malformed close frame"
		}
		s.closeWith(int(code), reason)
		return actStop
	}
	// Data frames, possibly fragmented.
	data := f.payload
	switch {
	case f.op == opCont && !s.fragging:
		s.closeWith(CloseProtocol, "continuation without a message")
		return actAwaitClose
	case f.op != opCont && s.fragging:
		s.closeWith(CloseProtocol, "new message inside a fragmented one")
		return actAwaitClose
	case !f.fin || f.op == opCont:
		if !s.fragging {
			s.fragging, s.fragOp = true, f.op
			s.frag = getBuf(s.h.cfg.MaxFrameBytes)
			*s.frag = (*s.frag)[:0]
		}
		if len(*s.frag)+len(data) > s.h.cfg.MaxFrameBytes {
			s.enqueue(errFrame(errorf(CodeTooLarge, "frames are limited to %d bytes", s.h.cfg.MaxFrameBytes), "", ""))
			s.closeWith(CloseTooBig, "message too big")
			return actAwaitClose
		}
		*s.frag = append(*s.frag, data...)
		if !f.fin {
			return actContinue
		}
		defer s.dropFragments()
		data = *s.frag
		f.op = s.fragOp
	}
	if f.op == opBinary {
		s.refuse(errorf(CodeBadRequest, "binary frames are not supported; send JSON text frames"), "", "")
		if s.isClosing() {
			return actAwaitClose
		}
		return actContinue
	}
	if !utf8.Valid(data) {
		s.closeWith(CloseInvalidUTF8, "text frame is not valid UTF-8")
		return actAwaitClose
	}
	s.handleMessage(data)
	return actContinue
}

func (s *session) dropFragments() {
	putBuf(s.frag)
	s.frag, s.fragging = nil, false
}

// refuse answers a bad frame with an error frame and counts it; a connection that keeps
// sending bad frames is closed with 1008.
func (s *session) refuse(e *Error, clientID, room string) {
	s.enqueue(errFrame(e, clientID, room))
	cfg := &s.h.cfg
	rate := float64(cfg.MaxViolations) / cfg.ViolationWindow.Seconds()
	if !s.abuse.take(time.Now().UnixNano(), rate, cfg.MaxViolations) {
		s.closeWith(ClosePolicy, "too many refused frames")
	}
}

func (s *session) handleMessage(data []byte) {
	f, e := decodeClientFrame(data)
	if e != nil {
		s.refuse(e, f.ClientID, "")
		return
	}
	cfg := &s.h.cfg
	if !s.limiter.take(time.Now().UnixNano(), cfg.MessageRate, cfg.MessageBurst) {
		s.refuse(errorf(CodeRateLimited, "too many frames; slow down"), f.ClientID, f.Room)
		return
	}
	switch f.Type {
	case "join":
		s.join(f.Room, f.After)
	case "leave":
		if i := s.memberIndex(f.Room); i >= 0 {
			m := s.joined[i]
			s.joined = append(s.joined[:i], s.joined[i+1:]...)
			s.leave(m)
		}
	case "send":
		s.send(f)
	}
}

func (s *session) memberIndex(room string) int {
	for i, m := range s.joined {
		if m.r.id == room {
			return i
		}
	}
	return -1
}

func (s *session) join(room string, after *int64) {
	var m *member
	if i := s.memberIndex(room); i >= 0 {
		m = s.joined[i]
	} else {
		if len(s.joined) >= s.h.cfg.MaxRoomsPerConn {
			s.refuse(errorf(CodeTooManyRooms, "a connection may join at most %d rooms", s.h.cfg.MaxRoomsPerConn), "", room)
			return
		}
		if s.h.rooms.get(room) == nil && !s.h.mod.newRooms.allow(s.ip, room, time.Now()) {
			s.refuse(errorf(CodeRoomLimit, "this address created too many rooms in the last hour; join an existing one"), "", room)
			return
		}
		m = s.h.rooms.join(s, room)
		s.joined = append(s.joined, m)
	}
	gen := m.startReplay()
	// The replay runs on its own goroutine so the reader's stack stays small.
	go s.h.replay(m, gen, after)
	if after != nil {
		go s.h.replayDeletions(m, *after)
	}
}

func (s *session) leave(m *member) {
	s.mu.Lock()
	m.left = true
	m.buffered = nil
	s.mu.Unlock()
	s.h.rooms.leave(m)
}

func (s *session) send(f clientFrame) {
	if s.memberIndex(f.Room) < 0 {
		s.refuse(errorf(CodeNotJoined, "join the room before sending to it"), f.ClientID, f.Room)
		return
	}
	content, e := cleanContent(f.Content, s.h.cfg.MaxContentChars)
	if e != nil {
		s.refuse(e, f.ClientID, f.Room)
		return
	}
	match, hold := s.h.mod.filter.Load().check(content)
	if match && !hold {
		s.refuse(errFiltered, f.ClientID, f.Room)
		return
	}
	msg := Message{
		Room: f.Room, SenderID: s.user.ID, Nickname: s.user.Nickname, Avatar: s.user.Avatar,
		Content: content, CreatedAt: time.Now().UTC().Truncate(time.Microsecond), ClientID: f.ClientID,
	}
	if hold {
		s.holdForReview(msg)
		return
	}
	if e := s.h.writer.submit(sendReq{msg: msg, reply: s}); e != nil {
		s.enqueue(errFrame(e, f.ClientID, f.Room))
		return
	}
	s.sent = true
}

// acked and failed implement replier for the writer.
func (s *session) acked(clientID string, id int64) {
	s.enqueue(ackFrameFor(clientID, id))
}

func (s *session) failed(m *Message, e *Error) {
	s.enqueue(errFrame(e, m.ClientID, m.Room))
}

// cleanup runs when the reader is done: leave rooms, free the slot, close the socket
// (after any queued close frame is written).
func (s *session) cleanup() {
	for _, m := range s.joined {
		s.leave(m)
	}
	s.joined = nil
	if s.ahead != nil {
		s.dropAhead()
	}
	if s.fragging {
		s.dropFragments()
	}
	s.mu.Lock()
	s.dead = true
	if s.corked && len(s.queue) > 0 {
		s.startWriterLocked() // frames held for the deliverer are written first
	}
	closeNow := !s.writing
	if !closeNow {
		s.closeOnIdle = true
	}
	s.mu.Unlock()
	if closeNow {
		_ = s.raw.Close()
	}
	s.h.unregister(s)
}

func (s *session) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}
