package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleJSON = `{"machine":{"nproc":"2","cpu_model":"AMD EPYC","rounds":"3","duration_s":"10","wrk_connections":"64","pinning":"proxies on CPU 1"},
"scenarios":[
 {"name":"proxy-small","title":"(1) proxied","rows":[
  {"peer":"edge","status":"not runnable"},
  {"peer":"nginx","status":"ok","rps":45000,"rps_min":44000,"rps_max":46000,"p99_ms":2.1},
  {"peer":"haproxy","status":"ok","rps":52000,"rps_min":52000,"rps_max":52000,"p99_ms":1.9},
  {"peer":"caddy","status":"ok","rps":21000,"rps_min":20000,"rps_max":23000,"p99_ms":4.4}]},
 {"name":"static-1k","title":"(3a) static","rows":[{"peer":"haproxy","status":"n/a"},{"peer":"nginx","status":"ok","rps":1,"rps_min":1,"rps_max":1}]},
 {"name":"weird/name","title":"x","rows":[]}
]}`

func TestRunDrawsEveryScenarioAndSummary(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "results.json")
	if err := os.WriteFile(in, []byte(sampleJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(in, dir); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string][2]int{
		"chart-proxy-small.png": {panelW, panelH},
		"chart-static-1k.png":   {panelW, panelH},
		"chart-weird_name.png":  {panelW, panelH},
		"summary.png":           {panelW * 2, panelH * 2},
	} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != size[0] || b.Dy() != size[1] {
			t.Fatalf("%s is %v, want %v", name, b, size)
		}
		if name == "chart-proxy-small.png" {
			// nginx's bar colour must be present, edge's must not (it has no number).
			if !hasColor(img, peerColors["nginx"]) || hasColor(img, peerColors["edge"]) {
				t.Fatal("bar colours do not match the rows")
			}
		}
	}
}

// hasColor reports whether any pixel of img is exactly want.
func hasColor(img image.Image, want color.RGBA) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == want {
				return true
			}
		}
	}
	return false
}

func TestRunRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, content, want string }{
		{"not json", "{", "decoding"},
		{"no scenarios", `{"scenarios":[]}`, "no scenarios"},
		{"wrong type", `{"scenarios":"x"}`, "decoding"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := run(p, dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if err := run(filepath.Join(dir, "missing.json"), dir); err == nil {
		t.Fatal("a missing file must be an error")
	}
}

func TestShortAndNiceStep(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 950: "950", 1500: "1.5k", 12345: "12.3k", 100000: "100k", 2500000: "2.5M"} {
		if got := short(v); got != want {
			t.Errorf("short(%v) = %q, want %q", v, got, want)
		}
	}
	for raw, want := range map[float64]float64{0: 1, 3: 5, 7: 10, 12: 20, 4200: 5000, 9000: 10000} {
		if got := niceStep(raw); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}
