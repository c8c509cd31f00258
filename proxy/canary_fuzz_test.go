package proxy

import (
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzVisitorBucket: for any Cookie header and client address, the bucket is below
// 100 and the same request always gets the same one; a request without the visitor
// cookie is given one whose value, sent back, lands in the same bucket, and whose
// Set-Cookie line carries no byte from the request.
func FuzzVisitorBucket(f *testing.F) {
	for _, s := range []string{"", "edge_visitor=abc", "a=1; edge_visitor=x; b=2", "edge_visitor=", "edge_visitor=\x00\xff;;;", strings.Repeat("c=", 500)} {
		f.Add(s, []byte{192, 0, 2, 1})
	}
	f.Fuzz(func(t *testing.T, cookie string, ip []byte) {
		bucket := func(cookie string) (uint32, *visitor, *fasthttp.RequestCtx) {
			var ctx fasthttp.RequestCtx
			ctx.Init2(benchConn{}, quietLogger{}, false)
			ctx.SetRemoteAddr(&net.TCPAddr{IP: net.IP(ip), Port: 1})
			if cookie != "" {
				ctx.Request.Header.Set("Cookie", cookie)
			}
			v := &visitor{ctx: &ctx}
			return v.bucket(), v, &ctx
		}
		b1, v, ctx := bucket(cookie)
		if b2, _, _ := bucket(cookie); b1 != b2 || b1 >= 100 || v.bucket() != b1 {
			t.Fatalf("cookie %q: buckets %d, %d", cookie, b1, b2)
		}
		if !v.issue {
			return
		}
		v.setCookie(&ctx.Response.Header)
		line := string(ctx.Response.Header.PeekCookie(VisitorCookie))
		if len(v.id) != 16 || !strings.Contains(line, string(v.id[:])) {
			t.Fatalf("set cookie %q for id %q", line, v.id)
		}
		for _, c := range v.id {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				t.Fatalf("id %q is not hex", v.id)
			}
		}
		if back, _, _ := bucket(VisitorCookie + "=" + string(v.id[:])); back != b1 {
			t.Fatalf("the cookie edge set lands in bucket %d, the address in %d", back, b1)
		}
	})
}
