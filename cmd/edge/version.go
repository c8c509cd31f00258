package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func init() { register("version", "print the version of this binary", cmdVersion) }

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "version", stdout)
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	fmt.Fprintf(stdout, "edge %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
