package chat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/idlepoll"
	"github.com/edge-server/edge/internal/syncset"
)

// Hub is the chat service: HTTP endpoints, WebSocket sessions, rooms, the batching
// writer and the store. Create it with New, then Start; serve Handler() under
// Config.Mount; stop it with Shutdown.
type Hub struct {
	cfg     Config
	log     *zap.Logger
	metrics Metrics
	id      *identity
	st      store
	memory  bool
	writer  *writer
	rooms   *rooms
	cork    corker // used by the deliverer only (deliver)
	assets  *assets
	mod     *moderation // moderation.go

	upgrader websocket.FastHTTPUpgrader
	origins  map[string]bool
	csp      string

	started atomic.Bool
	closing atomic.Bool

	mu       sync.Mutex
	sessions syncset.Set[*session]
	perIP    map[netip.Addr]int
	readers  sync.WaitGroup
	idle     *idlepoll.Poller // parks idle detached sessions (session_park.go); nil: none

	jobs     chan *job
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup

	// roomMessages counts a delivery's messages per room (deliverer only; empty between).
	roomMessages map[string]int
}

// New checks cfg and builds a hub; it does not touch the network (see Start).
func New(cfg Config, log *zap.Logger) (*Hub, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("chat config: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("chat")
	if cfg.InstanceID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.InstanceID = hex.EncodeToString(b[:])
	}
	h := &Hub{
		cfg: cfg, log: log, metrics: cfg.Metrics,
		id:      newIdentity(cfg.Secret, cfg.TokenTTL, cfg.NicknameLocale),
		rooms:   newRooms(cfg.PresenceDelay, cfg.Presence),
		perIP:   map[netip.Addr]int{},
		origins: map[string]bool{},

		roomMessages: map[string]int{},
	}
	var err error
	if h.assets, err = loadAssets(cfg.Assets); err != nil {
		return nil, err
	}
	if cfg.DatabaseURL == "" {
		h.st, h.memory = newMemStore(cfg.MemoryStoreMax), true
	} else if h.st, err = newPGStore(cfg.DatabaseURL, cfg.PoolSize,
		dbLimits{statement: cfg.DBStatementTimeout, idleInTx: cfg.DBIdleInTxTimeout, deadPeer: cfg.DBDeadPeerTimeout},
		cfg.InstanceID, log); err != nil {
		return nil, err
	}
	if h.mod, err = newModeration(h); err != nil {
		return nil, fmt.Errorf("chat config: %w", err)
	}
	h.initHTTP()
	h.writer = newWriter(h.st, &h.cfg, log, h.deliver)
	h.bgCtx, h.bgCancel = context.WithCancel(context.Background())
	h.jobs = make(chan *job)
	return h, nil
}

// Name is the service name used in logs and errors.
func (h *Hub) Name() string { return "chat" }

// Start connects the store and runs migrations (under an advisory lock), then starts the
// writer, the LISTEN connection and the pinger. If the database cannot be reached within
// StartTimeout, Start logs an error and returns nil: the chat serves its page, sends get
// "unavailable", and the writer keeps retrying until the database is there. Errors that
// retrying cannot fix (a bad schema, a failing migration) are returned.
func (h *Hub) Start() error {
	if h.started.Load() {
		return errors.New("chat: Start called twice")
	}
	if h.memory {
		h.log.Warn("chat uses the IN-MEMORY message store: messages are lost on restart and not shared between instances; set chat.database_url for production")
	}
	ctx, cancel := context.WithTimeout(h.bgCtx, h.cfg.StartTimeout)
	defer cancel()
	err := h.st.open(ctx)
	var ue *unavailableError
	switch {
	case errors.As(err, &ue):
		h.log.Error("chat database unreachable at start; serving anyway and retrying in the background",
			zap.Duration("waited", h.cfg.StartTimeout), zap.Error(err))
	case err != nil:
		return fmt.Errorf("opening the chat store: %w", err)
	}
	if p, perr := idlepoll.New(); perr == nil {
		h.idle = p
	} else {
		h.log.Info("chat keeps a reader goroutine per connection", zap.Error(perr))
	}
	h.writer.init(ctx, err == nil)
	h.writer.start()
	h.startWorkers()
	h.bg.Add(3)
	go func() { defer h.bg.Done(); h.mod.run(h.bgCtx) }()
	go func() { defer h.bg.Done(); h.st.listen(h.bgCtx, h.writer.notify) }()
	go func() { defer h.bg.Done(); h.pinger(h.bgCtx) }()
	h.started.Store(true)
	h.log.Info("chat started", zap.String("mount", h.cfg.Mount), zap.Bool("memory_store", h.memory),
		zap.String("instance", h.cfg.InstanceID))
	return nil
}

// Shutdown stops accepting connections and sends, commits and acknowledges what is
// queued, closes every WebSocket with 1001 (clients reconnect and resume with "after"),
// and closes the store. Connections still open when ctx ends are dropped.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock() // register checks closing under h.mu: no reader starts after this
	first := h.closing.CompareAndSwap(false, true)
	h.mu.Unlock()
	if !first {
		return nil
	}
	var errs []error
	if h.started.Load() {
		if err := h.writer.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flushing the chat writer: %w", err))
		}
	}
	for _, s := range h.sessions.List() {
		s.closeWith(CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { h.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, s := range h.sessions.List() {
			s.kill()
		}
		errs = append(errs, fmt.Errorf("closing chat connections: %w", ctx.Err()))
	}
	if h.idle != nil {
		h.idle.Close() // wakes anyone still parked, to meet the closed socket
	}
	h.bgCancel()
	h.bg.Wait()
	h.st.close()
	return errors.Join(errs...)
}

// ipKey is what the per-IP connection cap counts by: an IPv4 address (also when it
// arrives IPv4-mapped) exactly, an IPv6 address by its /64, because one subscriber is
// normally given a whole /64 and could otherwise take 2^64 slots.
func ipKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is4() || !ip.IsValid() {
		return ip
	}
	return netip.PrefixFrom(ip.WithZone(""), 64).Masked().Addr()
}

// acquireIP takes a connection slot for ip's key, or reports that it has none left.
func (h *Hub) acquireIP(ip netip.Addr) bool {
	ip = ipKey(ip)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.perIP[ip] >= h.cfg.MaxConnsPerIP {
		return false
	}
	h.perIP[ip]++
	return true
}

func (h *Hub) releaseIP(ip netip.Addr) {
	ip = ipKey(ip)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.perIP[ip]--; h.perIP[ip] <= 0 {
		delete(h.perIP, ip)
	}
}

// register adds a session, unless Shutdown has begun (then the caller drops it).
func (h *Hub) register(s *session) bool {
	h.mu.Lock()
	if h.closing.Load() {
		h.mu.Unlock()
		return false
	}
	h.sessions.Add(s)
	h.readers.Add(1)
	h.mu.Unlock()
	h.metrics.Connections(1)
	return true
}

func (h *Hub) unregister(s *session) {
	h.sessions.Remove(s)
	h.releaseIP(s.ip)
	h.metrics.Connections(-1)
	h.readers.Done()
}

// deliver hands a commit to the rooms: others' messages, then acks, then ours.
// Each connection gets what the delivery holds for it in one write (cork.go). Only
// rooms with more than one message in the delivery are corked: in a room with one, a
// member gets its frame written at once by the broadcast (one lock and one write per
// member instead of two locks, a queue and a second pass); a member that is corked
// anyway (a sender whose ack waits) still gets the frame in the same writev.
func (h *Hub) deliver(d delivery) {
	ck := &h.cork
	counts := h.roomMessages
	if len(d.remote)+len(d.own) > 1 {
		for i := range d.remote {
			counts[d.remote[i].Room]++
		}
		for i := range d.own {
			counts[d.own[i].Room]++
		}
	}
	for i := range d.remote {
		h.rooms.broadcast(&d.remote[i], corkIfMany(ck, counts, d.remote[i].Room))
	}
	for _, a := range d.acks {
		if s, ok := a.reply.(*session); ok {
			s.mu.Lock()
			ck.corkLocked(s)
			s.mu.Unlock()
		}
		a.reply.acked(a.clientID, a.id)
	}
	for i := range d.own {
		h.rooms.broadcast(&d.own[i], corkIfMany(ck, counts, d.own[i].Room))
	}
	ck.release()
	clear(counts)
}

// corkIfMany is ck when the delivery holds several messages for room, else nil.
func corkIfMany(ck *corker, counts map[string]int, room string) *corker {
	if counts[room] > 1 {
		return ck
	}
	return nil
}

// replay loads a joining member's history and finishes its join.
func (h *Hub) replay(m *member, gen uint32, after *int64) {
	ctx, cancel := context.WithTimeout(h.bgCtx, 2*h.cfg.DBTimeout)
	defer cancel()
	var (
		msgs    []Message
		err     error
		hasMore bool
		from    int64
	)
	if after != nil {
		from = *after
	}
	if !h.writer.isReady.Load() {
		// The writer has not read the last id yet: until it has, live delivery has no
		// starting point, so the join is refused (the client joins again) and the writer
		// is asked to try now.
		h.writer.notify(0)
		m.finishReplay(gen, from, nil, false, errorf(CodeUnavailable, "the message store is not reachable yet; join again"))
		return
	}
	if after != nil {
		from = *after
		msgs, err = h.st.latest(ctx, m.r.id, from, h.cfg.ReplayMax+1)
		if len(msgs) > h.cfg.ReplayMax {
			msgs, hasMore = msgs[1:], true
		}
	} else {
		msgs, err = h.st.latest(ctx, m.r.id, 0, h.cfg.HistorySize)
		hasMore = len(msgs) == h.cfg.HistorySize
	}
	var failed *Error
	if err != nil {
		failed = errorf(CodeUnavailable, "history could not be loaded; join again (live messages stop until a join succeeds)")
		if ce := h.log.Check(zap.DebugLevel, "chat replay failed"); ce != nil {
			ce.Write(zap.String("room", m.r.id), zap.Error(err))
		}
	}
	m.finishReplay(gen, from, msgs, hasMore, failed)
}

// pinger pings every connection once per PingInterval and drops those that did not
// answer the previous ping (no frame at all since it was sent).
func (h *Hub) pinger(ctx context.Context) {
	iv := h.cfg.PingInterval
	tick := time.NewTicker(max(iv/8, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now().UnixNano()
		for _, s := range h.sessions.List() {
			at := s.pingAt.Load()
			if now-at < int64(iv) {
				continue
			}
			if s.lastRead.Load() < at {
				if ce := h.log.Check(zap.DebugLevel, "dropping chat connection that missed a pong"); ce != nil {
					ce.Write(zap.String("user", s.user.ID))
				}
				s.kill()
				continue
			}
			s.pingAt.Store(now)
			s.enqueue(pingFrame)
		}
	}
}
