package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `{"scenario":"proxy-small","peer":"edge","status":"not runnable","reason":"bin/edge is missing"}
{"scenario":"proxy-small","peer":"nginx","round":1,"status":"ok","cpu":0.99,"rss_kib":9000,"wrk":{"requests":100000,"duration_us":10000000,"bytes":20000000,"p50_us":500,"p90_us":800,"p99_us":2000,"max_us":9000,"mean_us":550.0,"stdev_us":100.0,"err_connect":0,"err_read":0,"err_write":0,"err_status":0,"err_timeout":0}}
{"scenario":"proxy-small","peer":"nginx","round":2,"status":"ok","cpu":0.97,"rss_kib":9100,"wrk":{"requests":120000,"duration_us":10000000,"bytes":24000000,"p50_us":400,"p90_us":800,"p99_us":3000,"max_us":9000,"mean_us":550.0,"stdev_us":100.0,"err_connect":0,"err_read":1,"err_write":0,"err_status":2,"err_timeout":0}}
{"scenario":"proxy-small","peer":"nginx","round":3,"status":"ok","cpu":0.98,"rss_kib":9200,"wrk":{"requests":110000,"duration_us":10000000,"bytes":22000000,"p50_us":450,"p90_us":800,"p99_us":2500,"max_us":9000,"mean_us":550.0,"stdev_us":100.0,"err_connect":0,"err_read":0,"err_write":0,"err_status":0,"err_timeout":0}}
{"scenario":"static-1k","peer":"haproxy","status":"n/a","reason":"HAProxy is not a file server"}
{"scenario":"static-1k","peer":"edge","round":1,"status":"ok","cpu":1,"cpu_ms":1000,"wall_ms":1000,"rss_kib":1,"wrk":{"requests":30000,"duration_us":1000000,"bytes":1,"p50_us":1,"p90_us":1,"p99_us":1,"max_us":1,"mean_us":1,"stdev_us":0,"err_connect":0,"err_read":0,"err_write":0,"err_status":0,"err_timeout":0}}
{"scenario":"static-1k","peer":"nginx","round":1,"status":"ok","cpu":1,"cpu_ms":1000,"wall_ms":1000,"rss_kib":1,"wrk":{"requests":20000,"duration_us":1000000,"bytes":1,"p50_us":1,"p90_us":1,"p99_us":1,"max_us":1,"mean_us":1,"stdev_us":0,"err_connect":0,"err_read":0,"err_write":0,"err_status":0,"err_timeout":0}}
{"scenario":"static-1k","peer":"caddy","round":1,"status":"failed","reason":"wrk: connection refused"}
`

func TestAggregateMediansAndRatios(t *testing.T) {
	lines, err := readRaw(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	scs := aggregate(lines)
	if len(scs) != 2 || scs[0].Name != "proxy-small" || scs[1].Name != "static-1k" {
		t.Fatalf("scenarios %+v", scs)
	}
	nginx := scs[0].Rows[1]
	if nginx.Peer != "nginx" || nginx.Rounds != 3 || nginx.RPS != 11000 || nginx.RPSMin != 10000 || nginx.RPSMax != 12000 {
		t.Fatalf("nginx row %+v", nginx)
	}
	if nginx.P50MS != 0.45 || nginx.P99MS != 2.5 || nginx.Errors != 3 || nginx.CPU != 0.98 || nginx.RSSKiB != 9200 {
		t.Fatalf("nginx latency/errors %+v", nginx)
	}
	if nginx.EdgeRatio != nil {
		t.Fatalf("ratio without an edge number: %v", *nginx.EdgeRatio)
	}
	if got := ratioText(scs[0], nginx); got != "pending (edge not runnable)" {
		t.Fatalf("ratio text %q", got)
	}
	st := scs[1]
	if st.Rows[1].Peer != "nginx" || st.Rows[1].EdgeRatio == nil || *st.Rows[1].EdgeRatio != 1.5 {
		t.Fatalf("edge/nginx ratio %+v", st.Rows[1])
	}
	if st.Rows[1].CPUPerReqUS != 50 || st.Rows[0].CPUPerReqUS != 1e6/30000.0 {
		t.Fatalf("CPU per request: edge %v, nginx %v", st.Rows[0].CPUPerReqUS, st.Rows[1].CPUPerReqUS)
	}
	if st.Rows[2].Peer != "haproxy" || st.Rows[2].Status != "n/a" || st.Rows[3].Status != "failed" || st.Rows[3].Reason != "wrk: connection refused" {
		t.Fatalf("status rows %+v", st.Rows)
	}
}

func TestReadRawRejectsMalformedLines(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not json", "{oops\n", "line 1"},
		{"unknown field", `{"scenario":"a","peer":"b","status":"ok","bogus":1}`, "unknown field"},
		{"ok without numbers", `{"scenario":"a","peer":"b","status":"ok"}`, "without wrk"},
		{"zero duration", `{"scenario":"a","peer":"b","status":"ok","wrk":{"requests":5,"duration_us":0}}`, "not a measurement"},
		{"missing peer", `{"scenario":"a","status":"n/a"}`, "required"},
		{"bad status", `{"scenario":"a","peer":"b","status":"great"}`, "unknown status"},
		{"second line", "{\"scenario\":\"a\",\"peer\":\"b\",\"status\":\"n/a\"}\n[1,2]", "line 2"},
		{"oversize line", `{"scenario":"` + strings.Repeat("x", 2<<20) + `"}`, "line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readRaw(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRunWritesAllOutputs(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.jsonl")
	machine := filepath.Join(dir, "machine.txt")
	if err := os.WriteFile(raw, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(machine, []byte("# comment\nnproc=2\ncpu_model=AMD EPYC\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	docs := filepath.Join(dir, "bench.md")
	doc := "# B\n<!-- machine:begin -->\nold\n<!-- machine:end -->\nkeep me\n<!-- results:begin -->\nold\n<!-- results:end -->\ntail\n"
	if err := os.WriteFile(docs, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(raw, machine, dir, docs, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"proxy-small", "edge: not runnable in this build", "pending", "1.50×", "n/a", "note: caddy (static-1k): wrk: connection refused"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	var res Results
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Machine["cpu_model"] != "AMD EPYC" || len(res.Scenarios) != 2 {
		t.Fatalf("results.json %+v", res)
	}
	csvData, _ := os.ReadFile(filepath.Join(dir, "results.csv"))
	if n := strings.Count(string(csvData), "\n"); n != 7 {
		t.Fatalf("CSV has %d lines, want 7:\n%s", n, csvData)
	}
	spliced, _ := os.ReadFile(docs)
	for _, want := range []string{"keep me", "tail", "| CPU | AMD EPYC |", "#### (1) proxied", "<!-- results:end -->"} {
		if !strings.Contains(string(spliced), want) {
			t.Errorf("docs lack %q:\n%s", want, spliced)
		}
	}
	if strings.Contains(string(spliced), "old") {
		t.Errorf("docs still hold the old sections:\n%s", spliced)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "results.md"))
	if !strings.Contains(string(md), "#### (1) proxied ~100 B response, keep-alive") {
		t.Fatalf("markdown:\n%s", md)
	}
}

func TestReadKeyValuesRejectsGarbage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.txt")
	if err := os.WriteFile(p, []byte("a=1\nno equals sign\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readKeyValues(p); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("error %v, want one naming line 2", err)
	}
}

func TestSpliceDocsNeedsMarkers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d.md")
	if err := os.WriteFile(p, []byte("no markers here\n<!-- results:end -->\n<!-- results:begin -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := spliceDocs(p, map[string][]byte{"results": []byte("x")}); err == nil || !strings.Contains(err.Error(), "markers") {
		t.Fatalf("error %v, want one about markers", err)
	}
	if err := spliceDocs(filepath.Join(t.TempDir(), "missing.md"), nil); err == nil {
		t.Fatal("a missing docs file must be an error")
	}
}
