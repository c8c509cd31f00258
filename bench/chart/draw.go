package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// canvas is an RGBA image with the few drawing operations a bar chart needs.
type canvas struct {
	img                  *image.RGBA
	small, normal, title font.Face
}

func newCanvas(w, h int) (*canvas, error) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	c := &canvas{img: img}
	var err error
	if c.small, err = face(goregular.TTF, 11); err != nil {
		return nil, err
	}
	if c.normal, err = face(goregular.TTF, 13); err != nil {
		return nil, err
	}
	if c.title, err = face(gobold.TTF, 15); err != nil {
		return nil, err
	}
	return c, nil
}

func face(ttf []byte, size float64) (font.Face, error) {
	f, err := opentype.Parse(ttf)
	if err != nil {
		return nil, fmt.Errorf("parsing the embedded Go font: %w", err)
	}
	fc, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("making a %.0f pt face: %w", size, err)
	}
	return fc, nil
}

func (c *canvas) rect(r image.Rectangle, col color.Color) {
	draw.Draw(c.img, r.Intersect(c.img.Bounds()), image.NewUniform(col), image.Point{}, draw.Over)
}

func (c *canvas) hline(x0, x1, y int, col color.Color) { c.rect(image.Rect(x0, y, x1+1, y+1), col) }
func (c *canvas) vline(x, y0, y1 int, col color.Color) { c.rect(image.Rect(x, y0, x+1, y1+1), col) }

// align says where a text's x coordinate is: its left edge, centre or right edge.
type align int

const (
	left align = iota
	center
	right
)

// text draws s with its baseline at y.
func (c *canvas) text(f font.Face, x, y int, s string, col color.Color, a align) {
	d := &font.Drawer{Dst: c.img, Src: image.NewUniform(col), Face: f}
	w := d.MeasureString(s).Round()
	switch a {
	case center:
		x -= w / 2
	case right:
		x -= w
	}
	d.Dot = fixed.P(x, y)
	d.DrawString(s)
}

// sub returns a canvas drawing into the rectangle r of c (same fonts).
func (c *canvas) sub(r image.Rectangle) *canvas {
	return &canvas{img: c.img.SubImage(r).(*image.RGBA), small: c.small, normal: c.normal, title: c.title}
}

func rgb(hex uint32) color.RGBA {
	return color.RGBA{R: uint8(hex >> 16), G: uint8(hex >> 8), B: uint8(hex), A: 0xff}
}

var (
	colAxis  = rgb(0x444444)
	colGrid  = rgb(0xe3e3e3)
	colText  = rgb(0x222222)
	colMuted = rgb(0x888888)
	// peerColors keep a peer's colour the same in every chart.
	peerColors = map[string]color.RGBA{
		"edge":    rgb(0xe4572e),
		"nginx":   rgb(0x2e86ab),
		"haproxy": rgb(0xa23b72),
		"caddy":   rgb(0x3bb273),
	}
	otherColors = []color.RGBA{rgb(0xf3a712), rgb(0x5d576b), rgb(0x8cb369)}
)

func peerColor(peer string, i int) color.RGBA {
	if c, ok := peerColors[peer]; ok {
		return c
	}
	return otherColors[i%len(otherColors)]
}
