package pgtest

import "net/url"

// Addr is the host:port of the database's server.
func (d *DB) Addr() string {
	u, err := url.Parse(d.URL)
	if err != nil {
		return ""
	}
	return u.Host
}

// URLVia is the database's URL with the server reached at addr instead (a fault
// injecting proxy in front of the server).
func (d *DB) URLVia(addr string) string {
	u, err := url.Parse(d.URL)
	if err != nil {
		return d.URL
	}
	u.Host = addr
	return u.String()
}
