// Command edge is a single-binary edge server: ACME TLS, blue/green proxy, static files
// and an in-process WebSocket chat. See README.md.
package main

import "os"

func main() {
	os.Exit(runCLI(os.Args[1:], os.Stdout, os.Stderr))
}
