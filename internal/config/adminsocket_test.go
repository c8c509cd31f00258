package config

import "testing"

func TestScanAdminSocket(t *testing.T) {
	env := func(k string) (string, bool) { return map[string]string{"RUN": "/run"}[k], k == "RUN" }
	for in, want := range map[string]string{
		"admin_socket: /run/edge/a.sock\nsites: [":             "/run/edge/a.sock",
		"sites: [\nadmin_socket: \"/x y.sock\" # c\n":          "/x y.sock",
		"admin_socket: '/q.sock'\r\n{":                         "/q.sock",
		"admin_socket: ${RUN}/e.sock # comment\n[":             "/run/e.sock",
		"  admin_socket: /nested.sock\n[":                      "",
		"admin_socket: relative.sock\n[":                       "",
		"admin_socket: \"/unterminated\n[":                     "",
		"admin_socket: ${NOPE}/e.sock\n[":                      "/e.sock", // unset is empty, as in the daemon
		"# admin_socket: /commented.sock\n[":                   "",
		"chat:\n  admin_socket_x: 1\nadmin_socket: /second\n[": "/second",
	} {
		if got := ScanAdminSocket([]byte(in), env); got != want {
			t.Errorf("ScanAdminSocket(%q) = %q, want %q", in, got, want)
		}
	}
}
