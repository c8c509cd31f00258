package chat

import (
	"context"
	"errors"
	"sort"

	"go.uber.org/zap"
)

// HeldMessage is a send the word filter held for review (filter action "hold").
type HeldMessage struct {
	ID int64 `json:"id"` // the held entry's id, not a message id
	Message
}

// heldStore keeps held messages (pgStore: table chat_held; memStore: memory).
type heldStore interface {
	// hold stores m; holding the same (sender, client id) twice keeps one entry.
	hold(ctx context.Context, m Message) error
	// held lists held messages, oldest first; with ids, exactly those (an
	// *unknownIDsError if any is missing).
	held(ctx context.Context, ids []int64) ([]HeldMessage, error)
	// dropHeld removes entries (missing ones are ignored).
	dropHeld(ctx context.Context, ids []int64) error
}

var errHeld = &Error{Code: CodeHeld, Message: "this message waits for a moderator's review before others can see it"}

// holdForReview stores m off the reader goroutine (a database round trip), then the sender is told.
func (s *session) holdForReview(m Message) {
	h := s.h
	go func() {
		ctx, cancel := context.WithTimeout(h.bgCtx, h.cfg.DBTimeout)
		defer cancel()
		if err := h.mod.held.hold(ctx, m); err != nil {
			s.enqueue(errFrame(errUnavailable, m.ClientID, m.Room))
			return
		}
		s.enqueue(errFrame(errHeld, m.ClientID, m.Room))
	}()
}

// Held lists the messages waiting for review.
func (h *Hub) Held(ctx context.Context) ([]HeldMessage, error) {
	hm, err := h.mod.held.held(ctx, nil)
	if err != nil {
		return nil, errModeration("listing held messages", err)
	}
	return nonNil(hm), nil
}

// Approve sends held messages to their rooms as if just sent (with their original
// client id and time) and then removes them from review. If any id is unknown nothing
// is approved; a message the writer could not store stays held.
func (h *Hub) Approve(ctx context.Context, ids []int64) ([]Message, error) {
	hm, err := h.pickHeld(ctx, ids)
	if err != nil {
		return nil, err
	}
	done := make(chan approvalResult, len(hm))
	for _, m := range hm {
		r := &approval{held: m.ID, msg: m.Message, done: done}
		if e := h.writer.submit(sendReq{msg: m.Message, reply: r}); e != nil {
			r.failed(&m.Message, e)
		}
	}
	var stored []Message
	var drop []int64
	var failed *Error
	for range hm {
		select {
		case r := <-done:
			if r.err != nil {
				failed = errorf(CodeUnavailable, "held message %d was not stored (%s); it stays held", r.held, r.err.Message)
				continue
			}
			stored = append(stored, r.msg)
			drop = append(drop, r.held)
		case <-ctx.Done():
			return nil, errModeration("approving", ctx.Err())
		}
	}
	if err := h.mod.held.dropHeld(ctx, drop); err != nil {
		h.log.Warn("chat approved messages but could not remove them from review; approving again is harmless", zap.Error(err))
	}
	if failed != nil {
		return stored, failed
	}
	sort.Slice(stored, func(i, j int) bool { return stored[i].ID < stored[j].ID })
	return stored, nil
}

// Reject discards held messages; if any id is unknown nothing is discarded.
func (h *Hub) Reject(ctx context.Context, ids []int64) (int, error) {
	hm, err := h.pickHeld(ctx, ids)
	if err != nil {
		return 0, err
	}
	if err := h.mod.held.dropHeld(ctx, ids); err != nil {
		return 0, errModeration("rejecting", err)
	}
	return len(hm), nil
}

func (h *Hub) pickHeld(ctx context.Context, ids []int64) ([]HeldMessage, error) {
	if e := checkDeleteIDs(ids); e != nil {
		return nil, e
	}
	hm, err := h.mod.held.held(ctx, ids)
	var u *unknownIDsError
	if errors.As(err, &u) {
		return nil, errorf(CodeNotFound, "%s", u.heldError())
	}
	if err != nil {
		return nil, errModeration("reading held messages", err)
	}
	return hm, nil
}

type approvalResult struct {
	held int64
	msg  Message
	err  *Error
}

// approval is the writer's replier for one approved message.
type approval struct {
	held int64
	msg  Message
	done chan approvalResult
}

func (a *approval) acked(_ string, id int64) {
	m := a.msg
	m.ID = id
	a.done <- approvalResult{held: a.held, msg: m}
}

func (a *approval) failed(_ *Message, e *Error) { a.done <- approvalResult{held: a.held, err: e} }
