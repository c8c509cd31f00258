package proxy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/valyala/fasthttp"
)

// headerOps is a compiled HeaderRules: byte slices in a fixed order, so applying
// them allocates nothing and is the same on every request.
type headerOps struct {
	remove        [][]byte
	set, add      [][2][]byte
	removesServer bool // Server is removed and not set again
}

// frameHeaders are what edge itself decides about a message's framing and
// connection; rules may not touch them.
var frameHeaders = []string{"content-length", "transfer-encoding", "connection", "keep-alive",
	"upgrade", "trailer", "te", "proxy-connection"}

// CheckHeaderName reports whether name may be used in a header rule: an RFC 9110
// token, and not one of the headers that frame the message.
func CheckHeaderName(name string) error {
	if name == "" {
		return fmt.Errorf("a header name is empty")
	}
	for i := range len(name) {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("header name %q contains %q, which is not allowed in a header name", name, name[i])
		}
	}
	for _, f := range frameHeaders {
		if strings.EqualFold(name, f) {
			return fmt.Errorf("header %q frames the message and is set by edge itself; it cannot be changed", name)
		}
	}
	return nil
}

// CheckHeaderValue refuses control characters (CR and LF would split the header).
func CheckHeaderValue(name, value string) error {
	for i := range len(value) {
		if c := value[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return fmt.Errorf("the value of header %q contains the control character %q", name, c)
		}
	}
	return nil
}

// CheckHeaderRules checks every name and value of r.
func CheckHeaderRules(r HeaderRules) error {
	for _, m := range []map[string]string{r.Set, r.Add} {
		for k, v := range m {
			if err := CheckHeaderName(k); err != nil {
				return err
			}
			if err := CheckHeaderValue(k, v); err != nil {
				return err
			}
		}
	}
	for _, k := range r.Remove {
		if err := CheckHeaderName(k); err != nil {
			return err
		}
	}
	return nil
}

func compileHeaderRules(r HeaderRules) (*headerOps, error) {
	if r.empty() {
		return nil, nil
	}
	if err := CheckHeaderRules(r); err != nil {
		return nil, err
	}
	ops := &headerOps{}
	for _, k := range r.Remove {
		ops.remove = append(ops.remove, []byte(k))
	}
	pairs := func(m map[string]string) [][2][]byte {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][2][]byte, 0, len(keys))
		for _, k := range keys {
			out = append(out, [2][]byte{[]byte(k), []byte(m[k])})
		}
		return out
	}
	ops.set, ops.add = pairs(r.Set), pairs(r.Add)
	for _, k := range r.Remove {
		if strings.EqualFold(k, "server") {
			ops.removesServer = true
		}
	}
	for _, kv := range append(append([][2][]byte(nil), ops.set...), ops.add...) {
		if strings.EqualFold(string(kv[0]), "server") {
			ops.removesServer = false
		}
	}
	return ops, nil
}

// apply runs remove, then set, then add, so "remove: [Server], set: {Server: x}"
// sets it. It reports whether Server ends up removed.
func (o *headerOps) apply(h *fasthttp.ResponseHeader) (removedServer bool) {
	if o == nil {
		return false
	}
	for _, k := range o.remove {
		h.DelBytes(k)
	}
	for _, kv := range o.set {
		h.SetBytesKV(kv[0], kv[1])
	}
	for _, kv := range o.add {
		h.AddBytesKV(kv[0], kv[1])
	}
	return o.removesServer
}
