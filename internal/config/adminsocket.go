package config

import "strings"

// ScanAdminSocket finds a top-level `admin_socket: PATH` line in a file the YAML parser
// rejects, so `edge reload` after a syntax error still reaches the daemon, which then
// reports the error with file:line. Only an unindented key with an absolute path (after
// quotes, a trailing comment and ${VAR} are handled) counts; anything else is ignored.
func ScanAdminSocket(data []byte, lookup func(string) (string, bool)) string {
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "admin_socket:")
		if !ok {
			continue
		}
		v := strings.TrimSpace(rest)
		if n := len(v); n >= 2 && (v[0] == '"' || v[0] == '\'') {
			end := strings.IndexByte(v[1:], v[0])
			if end < 0 {
				return ""
			}
			v = v[1 : 1+end]
		} else if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		v, err := expandEnv(v, lookup)
		if err != nil || !strings.HasPrefix(v, "/") {
			return ""
		}
		return v
	}
	return ""
}
