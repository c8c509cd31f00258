package deprule

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/edge-server/edge"

// components are the parts that meet only in cmd/edge.
var components = []string{"proxy", "tls", "chat", "static"}

// pkg is one package of the module as `go list` sees it.
type pkg struct {
	path    string   // import path without the module prefix, e.g. "proxy/chattest"
	deps    []string // every package it depends on, directly or not (go list's Deps)
	imports []string // its direct imports
	dir     string
	files   []string // non-test Go files
}

// list runs go list over the module and returns its packages by short path.
func list(t *testing.T, patterns ...string) map[string]pkg {
	t.Helper()
	args := append([]string{"list", "-e", "-f",
		"{{.ImportPath}}\t{{join .Deps \" \"}}\t{{join .Imports \" \"}}\t{{.Dir}}\t{{join .GoFiles \" \"}}"}, patterns...)
	cmd := exec.Command("go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]pkg{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 5 || !inModule(f[0]) {
			continue
		}
		pkgs[short(f[0])] = pkg{path: short(f[0]), deps: ours(strings.Fields(f[1])),
			imports: strings.Fields(f[2]), dir: f[3], files: strings.Fields(f[4])}
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list found no packages of %s", module)
	}
	return pkgs
}

func inModule(p string) bool { return p == module || strings.HasPrefix(p, module+"/") }
func short(p string) string  { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }

func ours(deps []string) []string {
	var out []string
	for _, d := range deps {
		if inModule(d) {
			out = append(out, short(d))
		}
	}
	return out
}

// component is the component a package belongs to ("proxy" for proxy/x), or "".
func component(p string) string {
	for _, c := range components {
		if p == c || strings.HasPrefix(p, c+"/") {
			return c
		}
	}
	return ""
}

func TestComponentsDoNotImportEachOther(t *testing.T) {
	for _, p := range list(t, module+"/...") {
		own := component(p.path)
		for _, d := range p.deps {
			switch dc := component(d); {
			case own != "" && dc != "" && dc != own:
				t.Errorf("%s depends on %s: proxy, tls, chat and static meet only in cmd/edge", p.path, d)
			case strings.HasPrefix(p.path, "internal/") && p.path != "internal/config" && dc != "":
				t.Errorf("%s depends on %s: internal/ packages sit below proxy, tls, chat and static", p.path, d)
			}
		}
	}
}

func TestOnlyCmdEdgeImportsConfig(t *testing.T) {
	for _, p := range list(t, module+"/...") {
		for _, d := range p.deps {
			if d == "internal/config" && p.path != "cmd/edge" {
				t.Errorf("%s depends on internal/config; only cmd/edge turns the file into the packages' configs", p.path)
			}
		}
	}
}

func TestConfigDoesNotImportOS(t *testing.T) {
	p, ok := list(t, module+"/internal/config")["internal/config"]
	if !ok {
		t.Fatal("internal/config not found")
	}
	for _, imp := range p.imports {
		if imp == "os" || imp == "io/ioutil" {
			t.Errorf("internal/config imports %s: it takes bytes and an env lookup; cmd/edge reads the file", imp)
		}
	}
}

// envRead matches reading the process environment.
var envRead = regexp.MustCompile(`\b(os|syscall)\.(Getenv|LookupEnv|Environ)\(`)

func TestOnlyCmdEdgeReadsTheEnvironment(t *testing.T) {
	pkgs := list(t, module+"/cmd/edge")
	bin, ok := pkgs["cmd/edge"]
	if !ok {
		t.Fatal("cmd/edge not found")
	}
	all := list(t, module+"/...")
	for _, d := range bin.deps {
		p := all[d]
		for _, f := range p.files {
			src, err := os.ReadFile(filepath.Join(p.dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if m := envRead.Find(src); m != nil {
				t.Errorf("%s/%s calls %s): in the edge binary only cmd/edge reads the environment; pass the value in Config", p.path, f, m)
			}
		}
	}
}
