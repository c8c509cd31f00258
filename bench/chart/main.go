// Command chart draws the benchmark bar charts from results.json (bench/report):
// one PNG per scenario (requests/s per peer, median with the min–max range of the
// rounds as a whisker) and summary.png with every scenario as a panel.
//
//	chart -in bench/results/results.json -out bench/results
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// results is the part of results.json the charts need.
type results struct {
	Machine   map[string]string `json:"machine"`
	Scenarios []scenario        `json:"scenarios"`
}

type scenario struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	Rows  []row  `json:"rows"`
}

type row struct {
	Peer   string  `json:"peer"`
	Status string  `json:"status"`
	RPS    float64 `json:"rps"`
	RPSMin float64 `json:"rps_min"`
	RPSMax float64 `json:"rps_max"`
	P99MS  float64 `json:"p99_ms"`
}

const (
	panelW, panelH = 640, 380
	cols           = 2
)

func main() {
	in := flag.String("in", "bench/results/results.json", "results.json from bench/report")
	out := flag.String("out", "bench/results", "directory for the PNG files")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(in, outDir string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("reading results: %w", err)
	}
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("decoding %s: %w", in, err)
	}
	if len(res.Scenarios) == 0 {
		return fmt.Errorf("%s has no scenarios", in)
	}
	footer := footerText(res.Machine)
	for _, s := range res.Scenarios {
		c, err := newCanvas(panelW, panelH)
		if err != nil {
			return err
		}
		drawPanel(c, s, footer)
		if err := writePNG(filepath.Join(outDir, "chart-"+safeName(s.Name)+".png"), c.img); err != nil {
			return err
		}
	}
	rows := (len(res.Scenarios) + cols - 1) / cols
	c, err := newCanvas(panelW*cols, panelH*rows)
	if err != nil {
		return err
	}
	for i, s := range res.Scenarios {
		x, y := (i%cols)*panelW, (i/cols)*panelH
		drawPanel(c.sub(image.Rect(x, y, x+panelW, y+panelH)), s, footer)
	}
	return writePNG(filepath.Join(outDir, "summary.png"), c.img)
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return f.Close()
}

// safeName keeps file names to letters, digits and dashes.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

func footerText(m map[string]string) string {
	parts := []string{}
	if m["nproc"] != "" {
		parts = append(parts, fmt.Sprintf("%s× %s", m["nproc"], m["cpu_model"]))
	}
	if m["rounds"] != "" {
		parts = append(parts, fmt.Sprintf("median of %s × %s s", m["rounds"], m["duration_s"]))
	}
	if m["wrk_connections"] != "" {
		parts = append(parts, "wrk -c"+m["wrk_connections"])
	}
	if m["pinning"] != "" && m["pinning"] != "off" {
		parts = append(parts, "1 core per proxy")
	}
	return strings.Join(parts, " · ")
}

// drawPanel draws one scenario's bars into c (its bounds may not start at 0,0).
func drawPanel(c *canvas, s scenario, footer string) {
	b := c.img.Bounds()
	x0, y0 := b.Min.X, b.Min.Y
	c.text(c.title, x0+panelW/2, y0+24, s.Title, colText, center)
	plot := image.Rect(x0+70, y0+44, b.Max.X-20, b.Max.Y-62)
	top := 0.0
	for _, r := range s.Rows {
		top = math.Max(top, math.Max(r.RPS, r.RPSMax))
	}
	step := niceStep(top / 5)
	maxY := math.Ceil(top/step) * step
	if maxY == 0 {
		maxY, step = 1, 1
	}
	yOf := func(v float64) int { return plot.Max.Y - int(math.Round(v/maxY*float64(plot.Dy()))) }
	for v := 0.0; v <= maxY+step/2; v += step {
		y := yOf(v)
		c.hline(plot.Min.X, plot.Max.X, y, colGrid)
		c.text(c.small, plot.Min.X-6, y+4, short(v), colMuted, right)
	}
	c.vline(plot.Min.X, plot.Min.Y, plot.Max.Y, colAxis)
	c.hline(plot.Min.X, plot.Max.X, plot.Max.Y, colAxis)
	c.text(c.small, x0+8, plot.Min.Y-8, "requests/s", colMuted, left)
	n := len(s.Rows)
	if n == 0 {
		return
	}
	slot := plot.Dx() / n
	barW := min(slot*3/5, 110)
	for i, r := range s.Rows {
		cx := plot.Min.X + slot*i + slot/2
		c.text(c.normal, cx, plot.Max.Y+18, r.Peer, colText, center)
		if r.Status != "ok" {
			msg := r.Status
			if msg == "not runnable" {
				msg = "not runnable yet"
			}
			c.text(c.small, cx, plot.Max.Y-10, msg, colMuted, center)
			continue
		}
		col := peerColor(r.Peer, i)
		c.rect(image.Rect(cx-barW/2, yOf(r.RPS), cx+barW/2, plot.Max.Y), col)
		if r.RPSMax > r.RPSMin {
			c.vline(cx, yOf(r.RPSMax), yOf(r.RPSMin), colAxis)
			c.hline(cx-5, cx+5, yOf(r.RPSMax), colAxis)
			c.hline(cx-5, cx+5, yOf(r.RPSMin), colAxis)
		}
		c.text(c.normal, cx, min(yOf(r.RPS), yOf(r.RPSMax))-6, short(r.RPS), colText, center)
		c.text(c.small, cx, plot.Max.Y+33, fmt.Sprintf("p99 %.2f ms", r.P99MS), colMuted, center)
	}
	c.text(c.small, x0+panelW/2, b.Max.Y-8, footer, colMuted, center)
}

// niceStep rounds a raw grid step up to 1, 2 or 5 × 10^k.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// short formats a count as 950, 12.3k, 1.2M.
func short(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case v >= 1e4:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case v >= 1e3:
		return trimZero(fmt.Sprintf("%.2f", v/1e3)) + "k"
	}
	return fmt.Sprintf("%.0f", v)
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
