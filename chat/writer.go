package chat

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// replier is told how a send ended: acked only after the row is committed.
type replier interface {
	acked(clientID string, id int64)
	failed(m *Message, e *Error)
}

type sendReq struct {
	msg   Message
	reply replier
}

// delivery is what one commit (or catch-up) hands to the deliverer, in order: messages
// committed elsewhere first, then acks, then this batch's new messages.
type delivery struct {
	remote []Message
	acks   []ack
	own    []Message
}

type ack struct {
	reply    replier
	clientID string
	id       int64
}

// writer owns the commit side: it batches sends into one transaction each, keeps the
// cursor (highest id delivered on this instance) and feeds the deliverer. One goroutine,
// so batches commit, and are delivered, in id order.
type writer struct {
	st      store
	cfg     *Config
	log     *zap.Logger
	metrics Metrics

	in      chan sendReq
	wake    chan struct{}
	out     chan delivery
	stopc   chan struct{}
	done    chan struct{} // closed when the deliverer has delivered everything
	deliver func(delivery)

	gate     sync.RWMutex // held for reading by submit; for writing when stopping
	stopping bool

	room roomSignal // senders wait here while a full batch is queued (writer_room.go)

	cursor   atomic.Int64
	opened   bool        // migrations ran (writer goroutine only)
	ready    bool        // cursor initialised (writer goroutine only)
	isReady  atomic.Bool // ready, for joins: none is served before the cursor exists
	down     bool        // last database operation failed (for logging transitions)
	failing  atomic.Bool // down, for senders (waitRoom)
	downTill time.Time

	// Reused from batch to batch (writer goroutine only): growing them anew for every
	// batch of up to BatchMax was ~40% of the bytes the chat allocated in
	// bench/chat.sh's durable run. The store reads rows only while commit runs (it
	// encodes them for COPY itself).
	reqBuf  []sendReq
	rowBuf  []Message
	slotBuf []int
}

func newWriter(st store, cfg *Config, log *zap.Logger, deliver func(delivery)) *writer {
	w := &writer{
		st: st, cfg: cfg, log: log, metrics: cfg.Metrics, deliver: deliver,
		in:    make(chan sendReq, cfg.WriterQueue),
		wake:  make(chan struct{}, 1),
		out:   make(chan delivery, 16),
		stopc: make(chan struct{}),
		done:  make(chan struct{}),
	}
	w.room.init()
	return w
}

// submit queues a send; it never blocks.
func (w *writer) submit(r sendReq) *Error {
	w.gate.RLock()
	defer w.gate.RUnlock()
	if w.stopping {
		return errShuttingDown
	}
	select {
	case w.in <- r:
		return nil
	default:
		w.metrics.SendsFailed(CodeUnavailable, 1)
		return errorf(CodeUnavailable, "too many messages are waiting to be stored; retry with the same client_id")
	}
}

// notify is called by the listener when another instance committed up to maxID.
func (w *writer) notify(maxID int64) {
	if maxID != 0 && maxID <= w.cursor.Load() {
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// start runs the writer and the deliverer until stop.
func (w *writer) start() {
	go func() {
		for d := range w.out {
			w.deliver(d)
		}
		close(w.done)
	}()
	go w.run()
}

// stop refuses new sends, commits what is queued, delivers it, and returns when done.
func (w *writer) stop(ctx context.Context) error {
	w.gate.Lock()
	if !w.stopping {
		w.stopping = true
		close(w.stopc)
	}
	w.gate.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *writer) run() {
	defer close(w.out)
	poll := time.NewTicker(w.cfg.PollInterval)
	defer poll.Stop()
	for {
		select {
		case <-w.stopc:
			// Nothing can be submitted any more: commit what is left.
			for len(w.in) > 0 {
				w.commit(w.collect(<-w.in))
			}
			return
		case r := <-w.in:
			w.commit(w.collect(r))
		case <-w.wake:
			w.catchUp()
		case <-poll.C:
			w.catchUp()
		}
	}
}

// collect takes what is already queued, up to BatchMax: batches grow while a commit is
// in flight and stay small when traffic is light.
func (w *writer) collect(first sendReq) []sendReq {
	batch := append(w.reqBuf[:0], first)
	for len(batch) < w.cfg.BatchMax {
		select {
		case r := <-w.in:
			batch = append(batch, r)
		default:
			w.room.taken()
			return batch
		}
	}
	w.room.taken()
	return batch
}

// ensureReady migrates (if Start could not) and initialises the cursor to the highest
// committed id. Members only join after that (see Hub.replay): a join served from the
// database before it could see ids that the cursor then skips, and its member would
// never get the messages between its history and the cursor.
func (w *writer) ensureReady(ctx context.Context) bool {
	if w.ready {
		return true
	}
	if time.Now().Before(w.downTill) {
		return false
	}
	if !w.opened {
		if err := w.st.open(ctx); err != nil {
			w.failedOp("opening the chat store", err)
			return false
		}
		w.opened = true
	}
	id, err := w.st.maxID(ctx)
	if err != nil {
		w.failedOp("reading the last message id", err)
		return false
	}
	w.cursor.Store(id)
	w.ready = true
	w.isReady.Store(true)
	return true
}

// init is called by Start with the result of the first open.
func (w *writer) init(ctx context.Context, opened bool) {
	w.opened = opened
	if opened {
		w.ensureReady(ctx)
	}
}

func (w *writer) failedOp(what string, err error) {
	w.downTill = time.Now().Add(250 * time.Millisecond)
	w.failing.Store(true)
	if !w.down {
		w.down = true
		w.log.Error("chat store unavailable: sends get \"unavailable\" until it is back", zap.String("during", what), zap.Error(err))
	}
}

func (w *writer) recovered() {
	w.downTill = time.Time{}
	w.failing.Store(false)
	if w.down {
		w.down = false
		w.log.Info("chat store is back")
	}
}

func (w *writer) commit(reqs []sendReq) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.DBTimeout)
	defer cancel()
	defer w.recycle(reqs)
	if !w.ensureReady(ctx) {
		w.fail(reqs, errUnavailable)
		return
	}
	// One row per (sender, client id); repeats within the batch share its result.
	index := make(map[idemKey]int, len(reqs))
	batch, slot := w.rowBuf[:0], w.slotBuf[:0]
	for _, r := range reqs {
		k := idemKey{r.msg.SenderID, r.msg.ClientID}
		j, ok := index[k]
		if !ok {
			j = len(batch)
			index[k] = j
			batch = append(batch, r.msg)
		}
		slot = append(slot, j)
	}
	w.rowBuf, w.slotBuf = batch, slot
	start := time.Now()
	remote, res, err := w.st.commit(ctx, w.cursor.Load(), batch)
	if err != nil {
		w.failedOp("committing messages", err)
		w.fail(reqs, errUnavailable)
		return
	}
	w.recovered()
	w.metrics.BatchCommitted(len(batch), time.Since(start))
	d := delivery{remote: remote, acks: make([]ack, len(reqs))}
	cur := w.cursor.Load()
	for _, m := range remote {
		cur = max(cur, m.ID)
	}
	for i, r := range reqs {
		cr := res[slot[i]]
		d.acks[i] = ack{reply: r.reply, clientID: r.msg.ClientID, id: cr.msg.ID}
	}
	d.own = make([]Message, 0, len(res))
	for _, cr := range res {
		if !cr.dup {
			d.own = append(d.own, cr.msg)
		}
		cur = max(cur, cr.msg.ID)
	}
	sort.Slice(d.own, func(i, j int) bool { return d.own[i].ID < d.own[j].ID })
	w.cursor.Store(cur)
	w.out <- d
}

// recycle keeps a committed (or failed) batch's buffers for the next one, emptied so
// that they hold on to no message, sender or reply.
func (w *writer) recycle(reqs []sendReq) {
	clear(reqs)
	clear(w.rowBuf)
	w.reqBuf, w.rowBuf, w.slotBuf = reqs[:0], w.rowBuf[:0], w.slotBuf[:0]
}

func (w *writer) fail(reqs []sendReq, e *Error) {
	w.metrics.SendsFailed(e.Code, len(reqs))
	for i := range reqs {
		reqs[i].reply.failed(&reqs[i].msg, e)
	}
}

// catchUp delivers what other instances committed since the cursor, page by page.
func (w *writer) catchUp() {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.DBTimeout)
	defer cancel()
	if !w.ensureReady(ctx) {
		return
	}
	const page = 1000
	for {
		msgs, err := w.st.since(ctx, w.cursor.Load(), page)
		if err != nil {
			w.failedOp("catching up with other instances", err)
			return
		}
		w.recovered()
		if len(msgs) == 0 {
			return
		}
		w.cursor.Store(msgs[len(msgs)-1].ID)
		w.out <- delivery{remote: msgs}
		if len(msgs) < page {
			return
		}
	}
}
