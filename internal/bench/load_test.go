package bench

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// decodeStatuses decodes a batch's answer as post does when scanStatuses
// cannot: with encoding/json.
func decodeStatuses(raw []byte) ([]int, bool) {
	var out struct {
		Data []struct {
			Status int `json:"status"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, false
	}
	s := make([]int, len(out.Data))
	for i, d := range out.Data {
		s[i] = d.Status
	}
	return s, true
}

// item is an accepted event's item as Herald writes it, with data.
func item(status, data string) string {
	return `{"status":` + status + `,"event":{"id":"evt_1","type":"bench.type0","tenantId":"t","createdAt":"2026-12-06T10:00:00.123456Z","data":` + data + `}}`
}

var statusCases = []struct {
	name   string
	answer string
	n      int
	ok     bool // whether scanStatuses reads it
}{
	{"two accepted", `{"data":[` + item("202", `{"seq":1,"pad":"xx"}`) + `,` + item("200", `{"seq":2,"pad":"xx"}`) + `]}` + "\n", 2, true},
	{"no newline", `{"data":[` + item("202", `{}`) + `]}`, 1, true},
	{"quotes, braces and escapes in strings", `{"data":[` + item("202", `{"a":"}]\"{[\\","b":["}",{"c":"\\\\"}],"d":"\\\""}`) + `]}`, 1, true},
	{"nested data", `{"data":[` + item("202", `{"a":{"b":{"c":[1,2,{"d":[]}]}}}`) + `]}`, 1, true},
	{"a refused event", `{"data":[` + item("202", `{}`) + `,{"status":422,"error":{"title":"invalid"}}]}`, 2, false},
	{"fewer items", `{"data":[` + item("202", `{}`) + `]}`, 2, false},
	{"more items", `{"data":[` + item("202", `{}`) + `,` + item("202", `{}`) + `]}`, 1, false},
	{"status not first", `{"data":[{"event":{},"status":202}]}`, 1, false},
	{"white space", `{"data": [` + item("202", `{}`) + `]}`, 1, false},
	{"truncated", `{"data":[` + item("202", `{"pad":"xx`), 1, false},
	{"unterminated string", `{"data":[{"status":202,"event":"}]}`, 1, false},
	{"trailing bytes", `{"data":[` + item("202", `{}`) + `]}x`, 1, false},
	{"another key", `{"data":[` + item("202", `{}`) + `],"more":1}`, 1, false},
	{"empty", ``, 1, false},
	{"a number too long", `{"data":[{"status":20200}]}`, 1, false},
}

// TestScanStatuses holds scanStatuses to encoding/json: what it reads, it
// reads as encoding/json does, and what it cannot read it refuses.
func TestScanStatuses(t *testing.T) {
	t.Parallel()
	for _, tc := range statusCases {
		got := make([]int, tc.n)
		ok := scanStatuses([]byte(tc.answer), got)
		if ok != tc.ok {
			t.Errorf("%s: scanStatuses = %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		want, valid := decodeStatuses([]byte(tc.answer))
		if !valid || !slices.Equal(got, want) {
			t.Errorf("%s: scanned %v, encoding/json %v (valid %v)", tc.name, got, want, valid)
		}
	}
}

// TestScanStatusesBatch reads the answer to a batch of the bench's own
// size and shape.
func TestScanStatusesBatch(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i := range 50 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item("202", `{"seq":1,"pad":"`+strings.Repeat("x", 1000)+`"}`))
	}
	b.WriteString("]}\n")
	got := make([]int, 50)
	if !scanStatuses([]byte(b.String()), got) {
		t.Fatal("scanStatuses refused a batch's answer")
	}
	if want, _ := decodeStatuses([]byte(b.String())); !slices.Equal(got, want) {
		t.Errorf("scanned %v, want %v", got, want)
	}
}

// FuzzScanStatuses checks that whatever valid JSON scanStatuses reads, it
// reads as encoding/json does. (It skips over values without checking
// them, so it may read invalid JSON that encoding/json refuses; Herald
// writes none.)
func FuzzScanStatuses(f *testing.F) {
	for _, tc := range statusCases {
		f.Add(tc.answer, tc.n)
	}
	f.Fuzz(func(t *testing.T, answer string, n int) {
		if n < 1 || n > 100 {
			return
		}
		got := make([]int, n)
		if !scanStatuses([]byte(answer), got) || !json.Valid([]byte(answer)) {
			return
		}
		want, ok := decodeStatuses([]byte(answer))
		if !ok || !slices.Equal(got, want) {
			t.Errorf("%q: scanned %v, encoding/json %v", answer, got, want)
		}
	})
}
