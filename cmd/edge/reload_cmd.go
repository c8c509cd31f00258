package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edge-server/edge/internal/config"
)

func init() {
	register("reload", "re-read the config in the running daemon (same as SIGHUP, but reports the outcome)", cmdReload)
}

// cmdReload asks the daemon to re-read its config file (POST /reload on the admin socket)
// and waits for the verdict. systemd's ExecReload runs this, so `systemctl reload edge`
// fails visibly when the new config is rejected.
func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("reload", "reload [--config FILE] [--socket PATH] [--timeout D]", stdout)
	path := fs.String("config", defaultConfigPath, "config file whose admin_socket to use (the daemon re-reads the file it was started with)")
	socket := fs.String("socket", "", "admin socket of the running edge (default: admin_socket in --config, else "+config.DefaultAdminSocket+")")
	timeout := fs.Duration("timeout", adminTimeout, "how long to wait for the daemon")
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "edge reload: --timeout must be positive\n")
		return 2
	}
	sock := opsDaemonSocket(*socket, *path)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	reply, err := opsAdminCall(ctx, sock, "POST", "/reload", strings.NewReader("{}"))
	if err != nil {
		fmt.Fprintf(stderr, "edge reload: %v\n", err)
		if *socket == "" { // the file may be why its admin_socket was not found
			if data, rerr := readConfigFile(*path); rerr == nil {
				if _, perr := config.Parse(*path, data, os.LookupEnv); perr != nil {
					fmt.Fprintf(stderr, "%s also has problems:\n%v\n", *path, perr)
				}
			}
		}
		return 1
	}
	msg := adminMessage(reply.Body)
	if reply.Status == 404 || reply.Status == 405 || reply.Status == 501 {
		fmt.Fprintf(stderr, "edge reload: the running edge at %s cannot reload (HTTP %d); restart it instead: sudo systemctl restart edge\n", sock, reply.Status)
		return 1
	}
	if reply.Status/100 != 2 {
		if msg == "" {
			msg = fmt.Sprintf("the daemon answered HTTP %d", reply.Status)
		}
		fmt.Fprintf(stderr, "edge reload: the new config was rejected; edge keeps serving the previous one.\n%s\n", msg)
		return 1
	}
	if msg == "" || strings.HasPrefix(msg, "{") {
		msg = "config reloaded"
	}
	fmt.Fprintf(stdout, "edge: %s\n", msg)
	return 0
}
