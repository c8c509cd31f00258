package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// pageSize is the size of …/page: a server-rendered HTML page of the kind a Next.js
// app answers (markup, inline JSON, prose), for the compression scenario. Its words
// are drawn from a fixed seed, so every run and every proxy gets the same bytes, and
// it compresses like real HTML (about 4–6× with gzip), not like repeated filler.
const pageSize = 32 << 10

var ctHTML = []byte("text/html; charset=utf-8")

func renderPage() []byte {
	words := strings.Fields(`the edge proxy serves static files certificates blue green deploy
		switch health check request response header body stream chat room message user avatar
		nickname session token origin browser cache compress gzip brotli zstd latency throughput
		connection socket upstream downstream timeout retry drain rollback metrics dashboard
		alert renew expire domain record address route path query fragment redirect rewrite`)
	r := rand.New(rand.NewPCG(18, 2026))
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>edge benchmark page</title>` +
		`<link rel="stylesheet" href="/_next/static/css/app.css"></head><body><div id="__next">`)
	for i := 0; b.Len() < pageSize-512; i++ {
		fmt.Fprintf(&b, `<section class="card card-%d"><h2 class="card-title">`, i%7)
		for range 3 + r.IntN(5) {
			b.WriteString(words[r.IntN(len(words))] + " ")
		}
		b.WriteString(`</h2><p class="card-body">`)
		for range 20 + r.IntN(40) {
			b.WriteString(words[r.IntN(len(words))] + " ")
		}
		fmt.Fprintf(&b, `</p><a href="/posts/%d" data-id="%x">read more</a></section>`, r.IntN(100000), r.Uint32())
		if i%5 == 4 {
			fmt.Fprintf(&b, `<script type="application/json">{"id":%d,"views":%d,"tags":["%s","%s"]}</script>`,
				r.IntN(1e6), r.IntN(1e4), words[r.IntN(len(words))], words[r.IntN(len(words))])
		}
	}
	b.WriteString(`</div></body></html>`)
	return []byte(b.String())
}
