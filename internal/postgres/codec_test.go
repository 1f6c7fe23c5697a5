package postgres

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestJSONTextHeader holds jsonText's own encoding of headers to
// json.Marshal's, byte for byte.
func TestJSONTextHeader(t *testing.T) {
	t.Parallel()
	for _, h := range []http.Header{
		nil,
		{},
		{"Content-Type": {"application/json"}},
		{"B": {"2"}, "A": {"1", "1b"}, "C": nil, "D": {}},
		{"X-Quote": {`say "hi"\ok`}, "X-Html": {"<b>&amp;</b>"}, "X-Ctl": {"a\tb\nc\x00"}},
		{"X-Utf8": {"héllo ✓", "\u2028\u2029", "bad \xff\xfe byte"}, "Ä-Key": {""}},
		{"": {"empty key"}, "a": {"lower"}, "A": {"upper"}},
	} {
		want, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		got, err := jsonText(h)
		if err != nil || got != string(want) {
			t.Errorf("jsonText(%q) = %s, %v; want %s", h, got, err, want)
		}
	}
}

func FuzzJSONTextHeader(f *testing.F) {
	f.Add("Content-Type", "application/json", "X-A", "<&>")
	f.Add("K", "\xff\u2028\"\\", "", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		h := http.Header{k1: {v1, v2}, k2: {v2}}
		want, _ := json.Marshal(h)
		if got, _ := jsonText(h); got != string(want) {
			t.Errorf("jsonText(%q) = %s, want %s", h, got, want)
		}
	})
}

func BenchmarkJSONTextHeader(b *testing.B) {
	h := http.Header{
		"Content-Type":      {"application/json"},
		"User-Agent":        {"Herald/1.0"},
		"Webhook-Id":        {"evt_01JABCDEFGHJKMNPQRSTVWXYZ0"},
		"Webhook-Timestamp": {"1765000000"},
		"Webhook-Signature": {"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsonText(h); err != nil {
			b.Fatal(err)
		}
	}
}
