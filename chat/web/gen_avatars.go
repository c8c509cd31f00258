//go:build ignore

// gen_avatars writes static/avatars/a01.svg … a24.svg: simple geometric animal-ish
// faces, one hue per key. Run with `go generate ./chat/web/` after changing it.
// The key contract (a01..a24) is documented in docs/chat-ui.md.
package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
)

const count = 24

func main() {
	dir := filepath.Join("static", "avatars")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	for i := range count {
		// Step through the colour wheel so neighbouring keys get clearly different hues.
		hue := float64((i*7)%count) * 360 / count
		svg := avatar(i, hue)
		name := filepath.Join(dir, fmt.Sprintf("a%02d.svg", i+1))
		if err := os.WriteFile(name, []byte(svg), 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen_avatars:", err)
	os.Exit(1)
}

// avatar draws ears (4 kinds) × eyes (3 kinds) × mouth (2 kinds) on a tinted disc.
func avatar(i int, hue float64) string {
	main := hsl(hue, 0.55, 0.55)
	dark := hsl(hue, 0.45, 0.30)
	bg := hsl(hue, 0.70, 0.92)
	inner := hsl(hue, 0.60, 0.78)
	s := `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">`
	s += fmt.Sprintf(`<circle cx="32" cy="32" r="32" fill="%s"/>`, bg)
	switch i % 4 {
	case 1: // round ears (bear)
		s += fmt.Sprintf(`<circle cx="16" cy="20" r="8" fill="%s"/><circle cx="48" cy="20" r="8" fill="%s"/>`, main, main)
		s += fmt.Sprintf(`<circle cx="16" cy="20" r="4" fill="%s"/><circle cx="48" cy="20" r="4" fill="%s"/>`, inner, inner)
	case 2: // pointy ears (cat, fox)
		s += fmt.Sprintf(`<path d="M12 30 16 8 30 20ZM52 30 48 8 34 20Z" fill="%s"/>`, main)
		s += fmt.Sprintf(`<path d="M16 24 18 14 25 20ZM48 24 46 14 39 20Z" fill="%s"/>`, inner)
	case 3: // long ears (rabbit)
		s += fmt.Sprintf(`<ellipse cx="23" cy="14" rx="5" ry="13" fill="%s"/><ellipse cx="41" cy="14" rx="5" ry="13" fill="%s"/>`, main, main)
		s += fmt.Sprintf(`<ellipse cx="23" cy="14" rx="2.5" ry="9" fill="%s"/><ellipse cx="41" cy="14" rx="2.5" ry="9" fill="%s"/>`, inner, inner)
	}
	s += fmt.Sprintf(`<circle cx="32" cy="37" r="19" fill="%s"/>`, main)
	s += fmt.Sprintf(`<ellipse cx="32" cy="44" rx="9" ry="7" fill="%s"/>`, inner)
	switch (i / 4) % 3 {
	case 0: // dots
		s += fmt.Sprintf(`<circle cx="25" cy="33" r="2.6" fill="%s"/><circle cx="39" cy="33" r="2.6" fill="%s"/>`, dark, dark)
	case 1: // tall ovals with a highlight
		s += fmt.Sprintf(`<ellipse cx="25" cy="33" rx="2.4" ry="3.4" fill="%s"/><ellipse cx="39" cy="33" rx="2.4" ry="3.4" fill="%s"/>`, dark, dark)
		s += `<circle cx="25.8" cy="32" r=".9" fill="#fff"/><circle cx="39.8" cy="32" r=".9" fill="#fff"/>`
	case 2: // happy arcs
		s += fmt.Sprintf(`<path d="M22 34q3-4 6 0M36 34q3-4 6 0" fill="none" stroke="%s" stroke-width="2.2" stroke-linecap="round"/>`, dark)
	}
	s += fmt.Sprintf(`<ellipse cx="32" cy="41" rx="2.6" ry="1.8" fill="%s"/>`, dark)
	if (i/12)%2 == 0 {
		s += fmt.Sprintf(`<path d="M28 45q4 3 8 0" fill="none" stroke="%s" stroke-width="1.8" stroke-linecap="round"/>`, dark)
	} else {
		s += fmt.Sprintf(`<path d="M32 43v2.5M28.5 46q3.5 2 3.5-.5q0 2.5 3.5.5" fill="none" stroke="%s" stroke-width="1.6" stroke-linecap="round"/>`, dark)
	}
	return s + "</svg>\n"
}

func hsl(h, s, l float64) string {
	c := (1 - math.Abs(2*l-1)) * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := l - c/2
	var r, g, b float64
	switch {
	case h < 60:
		r, g = c, x
	case h < 120:
		r, g = x, c
	case h < 180:
		g, b = c, x
	case h < 240:
		g, b = x, c
	case h < 300:
		r, b = x, c
	default:
		r, b = c, x
	}
	to := func(v float64) int { return int(math.Round((v + m) * 255)) }
	return fmt.Sprintf("#%02x%02x%02x", to(r), to(g), to(b))
}
