package chat

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The fast decoder either gives exactly what encoding/json gives, or declines.
func FuzzDecodeFastAgreesWithJSON(f *testing.F) {
	for _, s := range fastDecodeCases {
		f.Add([]byte(s.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast clientFrame
		if !decodeFast(data, &fast) {
			return
		}
		var slow clientFrame
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", data, fast, slow)
		}
	})
}

var fastDecodeCases = []struct {
	in   string
	fast bool // the fast path takes it (else encoding/json decides)
}{
	{`{"type":"send","room":"r","content":"hi","client_id":"c1"}`, true},
	{` { "type" : "join" , "room" : "lobby" , "after" : 12 } `, true},
	{`{"type":"join","room":"a","after":-1}`, true},
	{`{"type":"join","room":"a","after":0}`, true},
	{`{}`, true},
	{`{"content":"안녕 👋"}`, true},
	{`{"type":"send","content":"a\"b"}`, false},   // escape
	{`{"type":"send","content":"\ud800"}`, false}, // escape (lone surrogate)
	{`{"Type":"send"}`, false},                    // case-insensitive key match
	{`{"type":"send","type":"join"}`, false},      // duplicate: last wins in encoding/json
	{`{"type":"send","extra":1}`, false},          // unknown key
	{`{"type":null}`, false},                      // null
	{`{"after":01}`, false},                       // invalid number
	{`{"after":1.5}`, false},                      // not an integer
	{`{"after":1e3}`, false},                      // exponent
	{`{"after":99999999999999999999}`, false},     // overflows int64
	{`{"type":"send"} x`, false},                  // trailing bytes
	{`{"type":"send",}`, false},                   // trailing comma
	{`{"room":{"a":1}}`, false},                   // nested
	{"{\"content\":\"a\x01b\"}", false},           // control character
	{"{\"content\":\"\xff\"}", false},             // invalid UTF-8
	{`[]`, false},
	{`{`, false},
}

func TestDecodeFastCases(t *testing.T) {
	for _, tc := range fastDecodeCases {
		var f clientFrame
		if got := decodeFast([]byte(tc.in), &f); got != tc.fast {
			t.Errorf("decodeFast(%q) = %v, want %v", tc.in, got, tc.fast)
		}
	}
}

func BenchmarkDecodeClientFrame(b *testing.B) {
	data := []byte(`{"type":"send","room":"room-17","content":"chatload 1764597600000000000 17-42","client_id":"run.17.42.1764597600000000000"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, e := decodeClientFrame(data); e != nil {
			b.Fatal(e)
		}
	}
}
