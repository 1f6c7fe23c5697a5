package postgres

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
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

// TestArrayArguments sends textArray, byteaArray and timestamptzArray to
// PostgreSQL and reads them back, with the arrays pgx encodes by itself
// beside them: each must arrive as the plain slice does.
func TestArrayArguments(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	at := time.Date(2026, 12, 6, 10, 15, 0, 123456000, time.UTC)
	for _, tc := range []struct {
		name  string
		text  []string
		bytea [][]byte
		times []time.Time
	}{
		{"values", []string{"evt_1", "", "héllo, \"world\" {}", "NULL"}, [][]byte{[]byte(`{"a":1}`), {}, {0, 0xff}, nil},
			[]time.Time{at, {}, at.Add(-48 * time.Hour)}},
		{"empty", []string{}, [][]byte{}, []time.Time{}},
		{"nil", nil, nil, nil},
	} {
		const q = "SELECT $1::text[], $2::bytea[], $3::timestamptz[], $4::text[], $5::bytea[], $6::timestamptz[]"
		var got, want struct {
			text  []string
			bytea [][]byte
			times []time.Time
		}
		err := conn.QueryRow(ctx, q, textArray(tc.text), byteaArray(tc.bytea), timestamptzArray(tc.times),
			tc.text, tc.bytea, tc.times).
			Scan(&got.text, &got.bytea, &got.times, &want.text, &want.bytea, &want.times)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for i := range got.times {
			got.times[i] = got.times[i].UTC()
		}
		for i := range want.times {
			want.times[i] = want.times[i].UTC()
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(want)); diff != "" {
			t.Errorf("%s: read back (-as pgx encodes the slices, +as sent): %s", tc.name, diff)
		}
		if tc.text != nil && len(got.text) != len(tc.text) {
			t.Errorf("%s: %d strings read back, want %d", tc.name, len(got.text), len(tc.text))
		}
	}
}

// TestStringList holds stringList to json.Unmarshal.
func TestStringList(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		`[]`, `["a"]`, `["payout.paid","payout.*","*"]`, `["",""]`, `null`,
		`[ "spaced" ]`, `["a", "b"]`, `["esc\"aped"]`, `["\u00e9"]`, `["é"]`, `["a",]`, `[,"a"]`, `["a""b"]`, `["a`, `[1]`, `{}`,
	} {
		testStringList(t, s)
	}
}

func FuzzStringList(f *testing.F) {
	for _, s := range []string{`["a","b.*"]`, `[]`, `["x\\y"]`, `["a",`} {
		f.Add(s)
	}
	f.Fuzz(testStringList)
}

func testStringList(t *testing.T, s string) {
	var want []string
	wantErr := json.Unmarshal([]byte(s), &want)
	got, err := stringList(s)
	if (err != nil) != (wantErr != nil) || wantErr == nil && (len(got) != len(want) || (got == nil) != (want == nil)) {
		t.Fatalf("stringList(%q) = %q, %v; want %q, %v", s, got, err, want, wantErr)
	}
	for i := range got {
		if wantErr == nil && got[i] != want[i] {
			t.Fatalf("stringList(%q) = %q, want %q", s, got, want)
		}
	}
}
