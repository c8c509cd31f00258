package chat

import "context"

// store is where messages live: Postgres (pgStore) or memory (memStore). Both give the
// same guarantees: ids increase in commit order, (sender_id, client_id) is unique, and a
// batch is committed entirely or not at all.
type store interface {
	// open connects and migrates. Errors that mean "not reachable (yet)" satisfy
	// isUnavailable; others are fatal configuration or schema problems.
	open(ctx context.Context) error
	// maxID is the highest committed message id (0 when empty).
	maxID(ctx context.Context) (int64, error)
	// commit stores batch (unique by sender and client id) in one transaction. It first
	// returns, in id order, every message committed by anyone else with id > cursor, so
	// that the caller can deliver them before its own (ids are allocated in commit order).
	// results[i] belongs to batch[i]: the stored message, or the original one when the
	// (sender, client id) pair already existed.
	commit(ctx context.Context, cursor int64, batch []Message) (remote []Message, results []commitResult, err error)
	// latest returns up to limit newest messages of room with id > after, oldest first.
	latest(ctx context.Context, room string, after int64, limit int) ([]Message, error)
	// before returns up to limit messages of room with id < before, oldest first.
	before(ctx context.Context, room string, before int64, limit int) ([]Message, error)
	// since returns up to limit messages of any room with id > cursor, in id order.
	since(ctx context.Context, cursor int64, limit int) ([]Message, error)
	// listen calls wake whenever another instance may have committed messages, with the
	// highest id it announced (0: unknown, e.g. after reconnecting); it returns when ctx
	// ends. The memory store has no other instances and just waits.
	listen(ctx context.Context, wake func(maxID int64))
	close()
}

type commitResult struct {
	msg Message
	dup bool // the pair existed: msg is the original, nothing new was stored
}

// unavailableError marks store errors that mean the database cannot be reached.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "message store unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }
