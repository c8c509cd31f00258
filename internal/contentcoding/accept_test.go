package contentcoding

import "testing"

var dynamicOrder = []Coding{Zstd, Brotli, Gzip}

func TestPick(t *testing.T) {
	all := Set{Identity: true, Brotli: true, Zstd: true, Gzip: true}
	gzOnly := Set{Identity: true, Gzip: true}
	tests := []struct {
		name, header string
		have         Set
		want         Coding
	}{
		{"empty header", "", all, Identity},
		{"chrome", "gzip, deflate, br, zstd", all, Zstd},
		{"q decides", "gzip;q=1, br;q=0.9, zstd;q=0.5", all, Gzip},
		{"zero refuses", "zstd;q=0, br;q=0, gzip", all, Gzip},
		{"star", "*", all, Zstd},
		{"star zero, gzip named", "*;q=0, gzip;q=0.1", all, Gzip},
		{"identity preferred", "identity;q=1, gzip;q=0.5", all, Identity},
		{"only what we have", "br, zstd, gzip;q=0.1", gzOnly, Gzip},
		{"bad q ignored", "br;q=2, gzip;q=abc, zstd;q=0.8", all, Zstd},
		{"case and spaces", " GZIP ;Q=0.7 , X-Gzip", gzOnly, Gzip},
		{"unknown only", "deflate, compress", all, Identity},
		{"q over 1 ignored", "zstd;q=1.001, gzip", all, Gzip},
		{"q without leading digit ignored", "zstd;q=.5", all, Identity},
		{"q with four decimals ignored", "zstd;q=0.5000", all, Identity},
		{"other parameters allowed", "zstd;level=3;q=0.5", all, Zstd},
		{"empty q ignored", "gzip;q=", all, Identity},
		{"q=0. refuses", "zstd;q=0., br;q=0, gzip;q=0", all, Identity},
		{"star then refusal", "*, zstd;q=0", all, Brotli},
		{"identity beats lower", "identity;q=0.5, gzip;q=0.4", all, Identity},
		{"identity ties lose", "identity;q=0.5, gzip;q=0.5", gzOnly, Gzip},
		{"junk", ",,,;;;", all, Identity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := ParseAcceptEncoding([]byte(tc.header))
			if got := a.Pick(&tc.have, dynamicOrder); got != tc.want {
				t.Fatalf("Pick(%q) = %q, want %q", tc.header, got.Name(), tc.want.Name())
			}
		})
	}
}

// FuzzParseAcceptEncoding checks that whatever the header, the pick is a coding that
// is available and that the client did not refuse with q=0.
func FuzzParseAcceptEncoding(f *testing.F) {
	for _, s := range []string{"gzip, br;q=0.9", "*;q=0", "identity;q=0, zstd", "br;q=1.000,gzip;q=0.001", ",,;q=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a := ParseAcceptEncoding([]byte(h))
		have := Set{Identity: true, Gzip: true, Zstd: true}
		got := a.Pick(&have, dynamicOrder)
		if !have[got] {
			t.Fatalf("picked %d, which is not available", got)
		}
		if got != Identity && a.Quality(got) <= 0 {
			t.Fatalf("picked %q although its q-value is 0", got.Name())
		}
		for c := Identity; c < NumCodings; c++ {
			if q := a.Quality(c); q < 0 || q > 1000 {
				t.Fatalf("q-value %d of %q out of range", q, c.Name())
			}
		}
	})
}
