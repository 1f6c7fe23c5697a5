package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldhq/herald/internal/hook"
)

// readTestBody runs readBody on a request with body and Content-Type ct,
// as the adapter would, and returns the problem it maps to (zero on success).
func readTestBody(t *testing.T, body io.Reader, ct string, mergePatch bool, in any) problem {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", body)
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if _, ok := body.(chunked); ok {
		r.ContentLength = -1
	}
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 64)
	if err := readBody(r, 64, mergePatch, in); err != nil {
		return problemFor(err)
	}
	return problem{}
}

// chunked hides the length of a body, as a chunked request does.
type chunked struct{ io.Reader }

func TestReadBody(t *testing.T) {
	t.Parallel()
	type in struct {
		Name   string   `json:"name"`
		Count  int      `json:"count"`
		Events []string `json:"events"`
	}
	tests := []struct {
		name       string
		body       io.Reader
		ct         string
		mergePatch bool
		wantStatus int
		wantType   string
		wantField  string
	}{
		{name: "ok", body: strings.NewReader(`{"name":"a"}`), ct: "application/json"},
		{name: "charset", body: strings.NewReader(`{"name":"a"}`), ct: "application/json; charset=UTF-8"},
		{name: "empty body is {}", body: strings.NewReader(``)},
		{name: "merge patch", body: strings.NewReader(`{}`), ct: "application/merge-patch+json", mergePatch: true},
		{name: "merge patch on POST", body: strings.NewReader(`{}`), ct: "application/merge-patch+json", wantStatus: 415, wantType: typeUnsupportedMedia},
		{name: "no content type", body: strings.NewReader(`{}`), wantStatus: 415, wantType: typeUnsupportedMedia},
		{name: "text/plain", body: strings.NewReader(`{}`), ct: "text/plain", wantStatus: 415, wantType: typeUnsupportedMedia},
		{name: "latin1", body: strings.NewReader(`{}`), ct: "application/json; charset=latin1", wantStatus: 415, wantType: typeUnsupportedMedia},
		{name: "bad media type", body: strings.NewReader(`{}`), ct: "application/", wantStatus: 415, wantType: typeUnsupportedMedia},
		{name: "too large", body: strings.NewReader(`{"name":"` + strings.Repeat("a", 100) + `"}`), ct: "application/json", wantStatus: 413, wantType: typeTooLarge},
		{name: "too large chunked", body: chunked{strings.NewReader(`{"name":"` + strings.Repeat("a", 100) + `"}`)}, ct: "application/json", wantStatus: 413, wantType: typeTooLarge},
		{name: "64 bytes", body: strings.NewReader(`{"name":"` + strings.Repeat("a", 52) + `"}`), ct: "application/json"},
		{name: "64 bytes chunked", body: chunked{strings.NewReader(`{"name":"` + strings.Repeat("a", 52) + `"}`)}, ct: "application/json"},
		{name: "syntax", body: strings.NewReader(`{"name":x}`), ct: "application/json", wantStatus: 400, wantType: typeMalformed},
		{name: "truncated", body: strings.NewReader(`{"name":`), ct: "application/json", wantStatus: 400, wantType: typeMalformed},
		{name: "trailing object", body: strings.NewReader(`{} {}`), ct: "application/json", wantStatus: 400, wantType: typeMalformed},
		{name: "trailing garbage", body: strings.NewReader(`{}x`), ct: "application/json", wantStatus: 400, wantType: typeMalformed},
		{name: "trailing space", body: strings.NewReader("{} \n"), ct: "application/json"},
		{name: "array", body: strings.NewReader(`[]`), ct: "application/json", wantStatus: 400, wantType: typeMalformed},
		{name: "null", body: strings.NewReader(`null`), ct: "application/json", wantStatus: 400, wantType: typeMalformed},
		{name: "unknown field", body: strings.NewReader(`{"nmae":"a"}`), ct: "application/json", wantStatus: 400, wantType: typeValidation, wantField: "nmae"},
		{name: "wrong type", body: strings.NewReader(`{"count":"3"}`), ct: "application/json", wantStatus: 400, wantType: typeValidation, wantField: "count"},
		{name: "wrong element type", body: strings.NewReader(`{"events":[1]}`), ct: "application/json", wantStatus: 400, wantType: typeValidation, wantField: "events"},
		{name: "fraction for integer", body: strings.NewReader(`{"count":1.5}`), ct: "application/json", wantStatus: 400, wantType: typeValidation, wantField: "count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var v in
			got := readTestBody(t, tt.body, tt.ct, tt.mergePatch, &v)
			if got.Status != tt.wantStatus || got.Type != tt.wantType {
				t.Fatalf("problem = %d %s (%s), want %d %s", got.Status, got.Type, got.Detail, tt.wantStatus, tt.wantType)
			}
			if tt.wantField != "" && (len(got.Errors) != 1 || got.Errors[0].Field != tt.wantField) {
				t.Errorf("errors = %+v, want one for field %q", got.Errors, tt.wantField)
			}
		})
	}
}

// TestReadAll: the body is read whole whatever size it declares.
func TestReadAll(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("0123456789", 100)
	for _, size := range []int64{-1, 0, 1, 999, 1000, 1001, 4096} {
		got, err := readAll(iotest.OneByteReader(strings.NewReader(body)), size)
		if err != nil || string(got) != body {
			t.Errorf("size %d: readAll = %d bytes, %v; want the %d bytes", size, len(got), err, len(body))
		}
	}
	if _, err := readAll(iotest.TimeoutReader(strings.NewReader(body)), 1000); err == nil {
		t.Error("readAll of a failing reader: no error")
	}
}

func TestDecodeKeepsRawData(t *testing.T) {
	t.Parallel()
	body := `{"type":"payout.paid","data":{"amount": 123456789012345678901234567890, "b":[1, 2]}}`
	var in eventIn
	if err := decodeJSON([]byte(body), &in); err != nil {
		t.Fatal(err)
	}
	if got, want := string(in.Data), `{"amount": 123456789012345678901234567890, "b":[1, 2]}`; got != want {
		t.Errorf("data = %s, want %s", got, want)
	}
}

func TestProblemFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want problem
	}{
		{fmt.Errorf("get endpoint: %w", hook.ErrNotFound), newProblem(404, typeNotFound, "The resource does not exist.")},
		{notFound("no endpoint %q", "ep_1"), newProblem(404, typeNotFound, `no endpoint "ep_1"`)},
		{fmt.Errorf("create tenant: %w", hook.ErrConflict), newProblem(409, typeConflict, "The request conflicts with an existing resource.")},
		{invalid("url", "is required"), problem{Type: typeValidation, Title: "Bad Request", Status: 400,
			Detail: "The request has invalid fields; see errors.", Errors: []hook.FieldError{{Field: "url", Message: "is required"}}}},
		{fmt.Errorf("list: %w", hook.ErrInvalidCursor), problem{Type: typeValidation, Title: "Bad Request", Status: 400,
			Detail: "The request has invalid fields; see errors.", Errors: []hook.FieldError{{Field: "cursor", Message: "is not a nextCursor from this list"}}}},
		{errors.New("database is locked at /var/lib/herald.db"), newProblem(500, typeInternal, genericInternalDetail)},
		{forbidden("no"), newProblem(403, typeForbidden, "no")},
		{unauthorized("who"), newProblem(401, typeUnauthorized, "who")},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, problemFor(tt.err)); diff != "" {
			t.Errorf("problemFor(%v) mismatch (-want +got):\n%s", tt.err, diff)
		}
	}
}

func TestMergeMap(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	old := map[string]string{"Authorization": "Bearer x", "X-A": "1"}
	tests := []struct {
		name  string
		patch opt[map[string]*string]
		want  map[string]string
	}{
		{"absent", opt[map[string]*string]{}, old},
		{"null", opt[map[string]*string]{Set: true, Null: true}, nil},
		{"merge", opt[map[string]*string]{Set: true, Value: map[string]*string{"authorization": nil, "x-a": str("2"), "X-B": str("3")}},
			map[string]string{"x-a": "2", "X-B": "3"}},
	}
	for _, tt := range tests {
		got := mergeMap(old, tt.patch, http.CanonicalHeaderKey)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: mergeMap mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
	if len(old) != 2 || old["X-A"] != "1" {
		t.Errorf("mergeMap changed its input: %v", old)
	}
}

// TestUnknownFieldScan: the key scan finds the same unknown key as
// decoding the object into a map would, whatever the values hold.
func TestUnknownFieldScan(t *testing.T) {
	type in struct {
		ID   string          `json:"id"`
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	reference := func(body []byte) []string {
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) != nil {
			return nil
		}
		var unknown []string
		for k := range obj {
			if k != "id" && k != "type" && k != "data" {
				unknown = append(unknown, k)
			}
		}
		return unknown
	}
	for _, body := range []string{
		`{}`,
		` { "id" : "a" , "type":"b", "data": {"x": [1, {"Y": "}"}], "z": "\"{"} } `,
		`{"ID":"a"}`,
		`{"id":"a","Type":"b"}`,
		`{"data":[{"id":1},"]",{"k":"\\"}],"typ\u0065":"x"}`,
		`{"data":{"a":{"b":{"c":[]}}},"extra":null}`,
		`{"data":"x","id":123.5e3,"type":true,"colour":false}`,
		`{"\u0069d":"escaped but known"}`,
		`{"d\u0061ta":1,"T\u0079pe":2}`,
		`[1,2]`,
	} {
		got := unknownField([]byte(body), reflect.TypeOf(&in{}))
		want := reference([]byte(body))
		switch {
		case len(want) == 0 && got != "":
			t.Errorf("%s: unknownField = %q, want none", body, got)
		case len(want) > 0 && !slices.Contains(want, got):
			t.Errorf("%s: unknownField = %q, want one of %q", body, got, want)
		}
	}
}

// decodeCases are request bodies for the events routes: the common case
// that decodeValid takes, and everything it leaves to encoding/json.
var decodeCases = []string{
	`{"id":"o-1","tenantId":"acme","type":"order.created","data":{"n":1}}`,
	` { "id" : "o-1" ,	"type":"a.b" ,
	 "data" : { "n" : [1, 2.5e3, true, null] , "s": "}\"{" } } `,
	`{}`,
	`{"type":"a.b"}`,
	`{"type":"a.b","data":{}}`,
	`{"type":"a.b","data":null}`,
	`{"type":"a.b","data":[1]}`,
	`{"type":"a.b","data":"x"}`,
	`{"type":"a.b","data":12 }`,
	`{"type":"a.b","data":{"a":1},"data":{"b":2}}`,
	`{"type":"a.b","type":"c.d","data":{}}`,
	`{"type":"a.b","type":null,"data":{}}`,
	`{"id":null,"type":"a.b","data":{}}`,
	`{"id":5,"type":"a.b","data":{}}`,
	`{"ID":"x","type":"a.b","data":{}}`,
	`{"ID":5,"type":"a.b","data":{}}`,
	`{"type":"a.b","Data":{}}`,
	`{"type":"a.b","data":{},"colour":"red"}`,
	`{"colour":"red","type":"a.b","data":{}}`,
	`{"t\u0079pe":"a.b","data":{}}`,
	`{"id":"o\u002d1","type":"a.b","data":{}}`,
	`{"id":"o\\1","type":"a.b","data":{}}`,
	"{\"type\":\"a.\xffb\",\"data\":{}}",
	"{\"type\":\"a.b\",\"data\":{\"s\":\"\xff\"}}",
	`{"type":"caf√©","data":{}}`,
	`{"type":"a.b","data":{"big":12345678901234567890}}`,
	`[]`,
	`"x"`,
	`null`,
	`1`,
	`{"type":"a.b"} {}`,
	`{"type":"a.b"}x`,
	`{"type":"a.b",}`,
	`{"type":"a.b","data":{"n":1}`,
	`{"type"`,
	`{"events":[]}`,
	`{"events":[{"type":"a.b"},{"id":"x"}]}`,
	`{ "events" : [ 1 , "x" , null , true , [ ] , { "type" : "a.b" } ] } `,
	`{"events":null}`,
	`{"events":{"id":"x-1"}}`,
	`{"events":"x"}`,
	`{"events":[{}],"events":[{},{}]}`,
	`{"Events":[{}]}`,
	`{"ev\u0065nts":[{}]}`,
	`{"events":[{}],"colour":1}`,
	`{"events":[{"data":{"a":[1,{"b":"]"}]}},{"type":"x"}]}`,
	`{"events":[{"type":"a.b"}`,
	`{"events":[{"type":"a.b"},]}`,
}

// decodeResult is what decoding a body gave: the value and the problem.
type decodeResult[T any] struct {
	In      T
	Problem problem
}

func decodeBoth[T any](body []byte) (fast, slow decodeResult[T]) {
	if err := decodeJSON(body, &fast.In); err != nil {
		fast.Problem = problemFor(err)
	}
	if err := decodeJSONSlow(body, &slow.In); err != nil {
		slow.Problem = problemFor(err)
	}
	return fast, slow
}

// TestDecodeValid: decoding an event or a batch gives the same value and
// the same problem as encoding/json alone, whichever path takes the body.
func TestDecodeValid(t *testing.T) {
	t.Parallel()
	for _, body := range decodeCases {
		if fast, slow := decodeBoth[eventIn]([]byte(body)); !cmp.Equal(fast, slow) {
			t.Errorf("event %s: decodeJSON and encoding/json differ (-fast +slow):\n%s", body, cmp.Diff(fast, slow))
		}
		if fast, slow := decodeBoth[batchIn]([]byte(body)); !cmp.Equal(fast, slow) {
			t.Errorf("batch %s: decodeJSON and encoding/json differ (-fast +slow):\n%s", body, cmp.Diff(fast, slow))
		}
	}
	// The common case does take the fast path.
	var in eventIn
	if !in.decodeValid([]byte(decodeCases[1])) || string(in.Data) != `{ "n" : [1, 2.5e3, true, null] , "s": "}\"{" }` {
		t.Errorf("decodeValid = %+v, want the event with its data as sent", in)
	}
	var b batchIn
	if !b.decodeValid([]byte(decodeCases[37])) || len(b.Events) != 6 || string(b.Events[5]) != `{ "type" : "a.b" }` {
		t.Errorf("decodeValid = %q, want the 6 events as sent", b.Events)
	}
}

// FuzzDecodeValid: whatever the body, decoding it gives what encoding/json
// alone gives.
//
//	go test -run '^$' -fuzz FuzzDecodeValid -fuzztime 1m ./internal/server/
func FuzzDecodeValid(f *testing.F) {
	for _, body := range decodeCases {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if fast, slow := decodeBoth[eventIn](body); !cmp.Equal(fast, slow) {
			t.Errorf("event %q: decodeJSON and encoding/json differ (-fast +slow):\n%s", body, cmp.Diff(fast, slow))
		}
		if fast, slow := decodeBoth[batchIn](body); !cmp.Equal(fast, slow) {
			t.Errorf("batch %q: decodeJSON and encoding/json differ (-fast +slow):\n%s", body, cmp.Diff(fast, slow))
		}
	})
}

// TestStringEnd: the end of a JSON string is found past any escaped quote.
func TestStringEnd(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in      string // a string, then more JSON
		end     int
		escaped bool
	}{
		{`"abc",1`, 5, false},
		{`"",1`, 2, false},
		{`"a\"b",1`, 6, true},
		{`"a\\",1`, 5, true},
		{`"a\\\"b","c"`, 8, true},
		{`"\u0022"`, 8, true},
		{`"abc`, 4, false},
	} {
		end, escaped := stringEnd([]byte(tt.in), 0)
		if end != tt.end || escaped != tt.escaped {
			t.Errorf("stringEnd(%s) = %d, %v; want %d, %v", tt.in, end, escaped, tt.end, tt.escaped)
		}
	}
}
