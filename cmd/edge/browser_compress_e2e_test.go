package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBrowserSeesCompressedPages: Chromium loads a static page and a page proxied to
// an app through `edge run` and reports both compressed (e2e/compress.spec.mjs).
func TestBrowserSeesCompressedPages(t *testing.T) {
	app := startSiteApp(t)
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte(sitePage), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	conf := writeEdgeConfig(t, dir, addr, `apps:
  web: { blue: "`+app.addr+`", green: "127.0.0.1:1" }
sites:
  - hosts: [127.0.0.1]
    routes:
      - { path: /static/, static: `+www+` }
      - { path: /app/, app: web }
`)
	p := startEdge(t, conf, nil, "")
	p.waitReady(t)
	if out, err := exec.Command("bash", filepath.Join("..", "..", "scripts", "browser-prereqs.sh")).CombinedOutput(); err != nil {
		t.Fatalf("browser prerequisites: %v\n%s", err, out)
	}
	cmd := exec.Command("node", "--test", "--test-concurrency=1", "compress.spec.mjs")
	cmd.Dir = filepath.Join("..", "..", "e2e")
	cmd.Env = append(os.Environ(), "EDGE_SITE_URL=http://"+addr+"/")
	out, err := cmd.CombinedOutput()
	t.Logf("browser test:\n%s", out)
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
}
