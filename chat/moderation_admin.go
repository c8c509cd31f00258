package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// AdminPrefix is where cmd/edge mounts AdminHandler on the admin unix socket.
const AdminPrefix = "/chat/"

// AdminHandler is the moderation API (docs/chat-protocol.md, "Admin API"). It is meant
// for the admin unix socket only: it does no authentication of its own, and Handler()
// (the public chat) never serves these paths. Errors are {"error","code"} like the rest
// of the admin API.
func (h *Hub) AdminHandler() http.Handler { return http.HandlerFunc(h.serveAdmin) }

var adminRoutes = map[string]string{
	"rooms": http.MethodGet, "bans": http.MethodGet,
	"delete": http.MethodPost, "ban": http.MethodPost, "unban": http.MethodPost,
	"held": http.MethodGet, "approve": http.MethodPost, "reject": http.MethodPost,
}

func (h *Hub) serveAdmin(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, AdminPrefix)
	method, ok := adminRoutes[name]
	if !ok || !strings.HasPrefix(r.URL.Path, AdminPrefix) {
		writeAdminJSON(w, http.StatusNotFound, adminError{Error: "no chat admin endpoint " + r.URL.Path +
			"; there are GET /chat/rooms, /chat/bans, /chat/held and POST /chat/delete, /chat/ban, /chat/unban, /chat/approve, /chat/reject", Code: string(CodeNotFound)})
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeAdminJSON(w, http.StatusMethodNotAllowed, adminError{Error: fmt.Sprintf("%s takes %s, not %s", r.URL.Path, method, r.Method), Code: string(CodeMethod)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*h.cfg.DBTimeout)
	defer cancel()
	var (
		out any
		err error
	)
	switch name {
	case "rooms":
		var rooms []RoomInfo
		if rooms, err = h.Rooms(ctx); err == nil {
			out = map[string]any{"rooms": nonNil(rooms)}
		}
	case "bans":
		var bans []Ban
		if bans, err = h.Bans(ctx); err == nil {
			out = map[string]any{"bans": bans}
		}
	case "delete":
		var req struct {
			IDs []int64 `json:"ids"`
		}
		if err = decodeAdmin(r, &req); err == nil {
			var refs []DeletedRef
			if refs, err = h.DeleteMessages(ctx, req.IDs); err == nil {
				out = map[string]any{"deleted": refs}
			}
		}
	case "ban":
		var req struct {
			BanTarget
			For    string `json:"for"`
			Reason string `json:"reason"`
		}
		if err = decodeAdmin(r, &req); err == nil {
			br := BanRequest{BanTarget: req.BanTarget, Reason: req.Reason}
			if br.For, err = parseBanDuration(req.For); err == nil {
				var b Ban
				var closed int
				if b, closed, err = h.Ban(ctx, br); err == nil {
					out = map[string]any{"ban": b, "closed": closed}
				}
			}
		}
	case "held":
		var hm []HeldMessage
		if hm, err = h.Held(ctx); err == nil {
			out = map[string]any{"held": hm}
		}
	case "approve", "reject":
		var req struct {
			IDs []int64 `json:"ids"`
		}
		if err = decodeAdmin(r, &req); err == nil {
			if name == "approve" {
				var msgs []Message
				if msgs, err = h.Approve(ctx, req.IDs); err == nil {
					out = map[string]any{"approved": msgs}
				}
			} else {
				var n int
				if n, err = h.Reject(ctx, req.IDs); err == nil {
					out = map[string]any{"rejected": n}
				}
			}
		}
	case "unban":
		var req struct {
			ID int64 `json:"id"`
			BanTarget
		}
		if err = decodeAdmin(r, &req); err == nil {
			var gone []Ban
			if gone, err = h.Unban(ctx, req.ID, req.BanTarget); err == nil {
				out = map[string]any{"removed": gone}
			}
		}
	}
	if err != nil {
		writeAdminErr(w, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, out)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func parseBanDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errorf(CodeBadRequest, "the ban duration %q is not a positive duration like 30m, 24h or 720h", truncate(s, 40))
	}
	return d, nil
}

// decodeAdmin reads one JSON object with known fields only (a misspelt field is an
// error, not a silently broader ban).
func decodeAdmin(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return errorf(CodeBadRequest, "reading the request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(CodeBadRequest, "the request body is not the expected JSON object: %v", err)
	}
	return nil
}

type adminError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeAdminErr(w http.ResponseWriter, err error) {
	var e *Error
	var u *unknownIDsError
	switch {
	case errors.As(err, &u):
		writeAdminJSON(w, http.StatusNotFound, adminError{Error: u.Error(), Code: string(CodeNotFound)})
	case errors.As(err, &e):
		status := http.StatusBadRequest
		switch e.Code {
		case CodeNotFound:
			status = http.StatusNotFound
		case CodeUnavailable:
			status = http.StatusServiceUnavailable
		case CodeInternal:
			status = http.StatusInternalServerError
		}
		writeAdminJSON(w, status, adminError{Error: e.Message, Code: string(e.Code)})
	default:
		writeAdminJSON(w, http.StatusInternalServerError, adminError{Error: err.Error(), Code: string(CodeInternal)})
	}
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
