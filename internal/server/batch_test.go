package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

type batchItemJ struct {
	Status int      `json:"status"`
	Event  *eventJ  `json:"event"`
	Error  *problem `json:"error"`
}

// TestBatchIngest: each event of a batch is answered as POST /v1/events
// would answer it, in request order; the valid ones are stored and handed
// to the dispatcher, the refused ones are not, and the batch is idempotent.
func TestBatchIngest(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		notified []string
	)
	e := newEnv(t, func(c *Config) {
		c.Ingested = func(r hook.IngestResult) {
			mu.Lock()
			defer mu.Unlock()
			notified = append(notified, r.Event.ID)
		}
	})
	keyA := e.tenant(t, "acme")
	e.tenant(t, "globex")
	e.endpoint(t, keyA, map[string]any{"url": "https://example.com/a", "events": []string{"order.*"}})
	e.event(t, keyA, map[string]any{"id": "taken", "type": "order.created", "data": map[string]any{"n": 0}})

	body := `{"events":[
		{"id":"o-1","type":"order.created","data":{"n":1}},
		{"type":"order.created"},
		{"id":"taken","type":"order.created","data":{"n":0}},
		{"id":"taken","type":"order.created","data":{"n":9}},
		{"id":"o-2","type":"order.paid","data":{"n":2},"colour":"red"},
		"not an object",
		{"id":"o-3","tenantId":"globex","type":"order.created","data":{}},
		{"id":"o-4","type":"order.paid","data":{"big":12345678901234567890}},
		{"id":"o-1","type":"order.created","data":{"n":1}}
	]}`
	var out struct{ Data []batchItemJ }
	e.must(t, http.StatusOK, req{method: "POST", path: "/v1/events/batch", key: keyA, body: body}, &out)
	want := []struct {
		status  int
		id      string // of the event answered
		problem string // type of the problem answered
		field   string // the field the problem names, if any
	}{
		{202, "o-1", "", ""},
		{400, "", typeValidation, "data"},
		{200, "taken", "", ""},
		{409, "", typeConflict, ""},
		{400, "", typeValidation, "colour"},
		{400, "", typeMalformed, ""},
		{403, "", typeForbidden, ""},
		{202, "o-4", "", ""},
		{200, "o-1", "", ""},
	}
	if len(out.Data) != len(want) {
		t.Fatalf("%d items, want %d: %+v", len(out.Data), len(want), out.Data)
	}
	for i, w := range want {
		got := out.Data[i]
		if got.Status != w.status {
			t.Errorf("item %d: status %d, want %d (%+v %+v)", i, got.Status, w.status, got.Event, got.Error)
			continue
		}
		if w.id != "" && (got.Event == nil || got.Event.ID != w.id || got.Error != nil) {
			t.Errorf("item %d: event %+v error %+v, want event %s", i, got.Event, got.Error, w.id)
		}
		if w.problem != "" {
			if got.Error == nil || got.Event != nil {
				t.Errorf("item %d: event %+v error %+v, want a problem", i, got.Event, got.Error)
				continue
			}
			if got.Error.Type != w.problem || got.Error.Status != w.status {
				t.Errorf("item %d: problem %+v, want type %s status %d", i, got.Error, w.problem, w.status)
			}
			if w.field != "" && (len(got.Error.Errors) == 0 || got.Error.Errors[0].Field != w.field) {
				t.Errorf("item %d: problem errors %+v, want field %s", i, got.Error.Errors, w.field)
			}
		}
	}
	if d := out.Data[7].Event.Data; string(d) != `{"big":12345678901234567890}` {
		t.Errorf("data = %s, want the bytes sent", d)
	}
	for _, id := range []string{"o-1", "o-4"} {
		e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/" + id, key: keyA}, nil)
		var ds listJ[deliveryJ]
		e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/" + id + "/deliveries", key: keyA}, &ds)
		if len(ds.Data) != 1 {
			t.Errorf("event %s has %d deliveries, want 1", id, len(ds.Data))
		}
	}
	e.must(t, http.StatusNotFound, req{method: "GET", path: "/v1/events/o-2", key: keyA}, nil)
	e.must(t, http.StatusNotFound, req{method: "GET", path: "/v1/events/o-3", key: e.admin}, nil)
	mu.Lock()
	if got := strings.Join(notified, ","); got != "taken,o-1,o-4" {
		t.Errorf("dispatcher told of %s, want taken,o-1,o-4 (each new event once)", got)
	}
	mu.Unlock()

	// The admin key names each event's tenant; an unknown one is refused
	// alone.
	e.must(t, http.StatusOK, req{method: "POST", path: "/v1/events/batch", key: e.admin, body: `{"events":[
		{"id":"g-1","tenantId":"globex","type":"a.b","data":{}},
		{"id":"g-2","tenantId":"nobody","type":"a.b","data":{}},
		{"id":"g-3","type":"a.b","data":{}}]}`}, &out)
	if got := statuses(out.Data); got != "202 400 400" {
		t.Errorf("admin batch statuses = %s, want 202 400 400", got)
	}
}

func statuses(items []batchItemJ) string {
	var s []string
	for _, it := range items {
		s = append(s, fmt.Sprint(it.Status))
	}
	return strings.Join(s, " ")
}

// TestBatchRefused: a batch refused as a whole stores nothing.
func TestBatchRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	one := `{"id":"x-%d","type":"a.b","data":{}}`
	var many []string
	for i := range MaxBatchEvents + 1 {
		many = append(many, fmt.Sprintf(one, i))
	}
	cases := []struct {
		name, body string
		header     map[string]string
		status     int
		typ        string
	}{
		{"empty", `{"events":[]}`, nil, 400, typeValidation},
		{"no events", `{}`, nil, 400, typeValidation},
		{"too many", `{"events":[` + strings.Join(many, ",") + `]}`, nil, 400, typeValidation},
		{"not a list", `{"events":{"id":"x-1"}}`, nil, 400, typeValidation},
		{"malformed", `{"events":[`, nil, 400, typeMalformed},
		{"idempotency key", `{"events":[` + fmt.Sprintf(one, 1) + `]}`, map[string]string{"Idempotency-Key": "k"}, 400, typeValidation},
	}
	for _, c := range cases {
		r := e.do(t, req{method: "POST", path: "/v1/events/batch", key: key, body: c.body, header: c.header})
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.status, c.status, r.body)
			continue
		}
		if p := r.problem(t); p.Type != c.typ {
			t.Errorf("%s: problem type %s, want %s", c.name, p.Type, c.typ)
		}
	}
	// An event over the payload limit is refused alone.
	big := fmt.Sprintf(`{"id":"big","type":"a.b","data":{"s":"%s"}}`, strings.Repeat("x", 5<<10))
	var out struct{ Data []batchItemJ }
	e.must(t, http.StatusOK, req{method: "POST", path: "/v1/events/batch", key: key,
		body: `{"events":[` + big + `,` + fmt.Sprintf(one, 7) + `]}`}, &out)
	if got := statuses(out.Data); got != "413 202" {
		t.Errorf("statuses = %s, want 413 202", got)
	}
	var evs listJ[eventJ]
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events", key: key}, &evs)
	if len(evs.Data) != 1 || evs.Data[0].ID != "x-7" {
		t.Errorf("events stored = %+v, want only x-7", evs.Data)
	}
}

// TestBatchRateLimit: events over the tenant's ingest limit are refused
// alone with 429, and the answer carries Retry-After.
func TestBatchRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.TenantRateLimit = 2.5 }) // burst 3
	key := e.tenant(t, "acme")
	var out struct{ Data []batchItemJ }
	r := e.must(t, http.StatusOK, req{method: "POST", path: "/v1/events/batch", key: key, body: `{"events":[
		{"type":"a.b","data":{}},{"type":"a.b","data":{}},{"type":"a.b","data":{}},{"type":"a.b","data":{}}]}`}, &out)
	if got := statuses(out.Data); got != "202 202 202 429" {
		t.Errorf("statuses = %s, want 202 202 202 429", got)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After with a rate-limited event")
	}
}

// TestBatchEdges: events that the common-case decoder leaves to
// encoding/json (a mis-cased or unknown field, a duplicated key, an escape,
// null data) are answered as before, each in its place, and the data
// stored is the bytes each event sent, white space and escapes included.
func TestBatchEdges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	body := "{ \"events\" : [\n" +
		` {"id":"w-1","type":"a.b","data":{ "n" : 1 ,"s":"x y" }},` + "\n" +
		` {"id":"w-2","type":"a.b","Data":{}},` +
		` {"id":"w-3","type":"x.y","type":"a.b","data":{}},` +
		` {"id":"w-4","type":"a.b","data":{},"colour":1},` +
		` {"id":"w\u002d5","type":"a.b","data":{"k":"\u00e9"}},` +
		` {"id":"w-6","type":"a.b","data":null},` +
		"\t{ \"id\" : \"w-7\" ,\r\n \"type\" : \"a.b\" , \"data\" : {\"n\":7} } \n] }\n"
	var out struct{ Data []batchItemJ }
	e.must(t, http.StatusOK, req{method: "POST", path: "/v1/events/batch", key: key, body: body}, &out)
	if got := statuses(out.Data); got != "202 400 202 400 202 400 202" {
		t.Fatalf("statuses = %s, want 202 400 202 400 202 400 202: %+v", got, out.Data)
	}
	for i, field := range map[int]string{1: "Data", 3: "colour", 5: "data"} {
		if p := out.Data[i].Error; p == nil || len(p.Errors) != 1 || p.Errors[0].Field != field {
			t.Errorf("item %d: problem %+v, want one for field %s", i, p, field)
		}
	}
	if ev := out.Data[0].Event; string(ev.Data) != `{"n":1,"s":"x y"}` {
		t.Errorf("answered data = %s, want it compacted as before", ev.Data)
	}
	if ev := out.Data[2].Event; ev.Type != "a.b" {
		t.Errorf("type = %q, want the last of the duplicated key", ev.Type)
	}
	if ev := out.Data[4].Event; ev.ID != "w-5" {
		t.Errorf("id = %q, want w-5 unescaped", ev.ID)
	}
	for id, want := range map[string]string{
		"w-1": `{ "n" : 1 ,"s":"x y" }`,
		"w-3": `{}`,
		"w-5": `{"k":"\u00e9"}`,
		"w-7": `{"n":7}`,
	} {
		ev, err := e.store.Event(context.Background(), id)
		if err != nil {
			t.Fatalf("event %s: %v", id, err)
		}
		if string(ev.Data) != want {
			t.Errorf("event %s: stored data %s, want the bytes sent %s", id, ev.Data, want)
		}
	}
}

// TestBatchAnswerEncoding: the answer to a batch encodes byte for byte as
// encoding/json encodes it, whatever its items hold.
func TestBatchAnswerEncoding(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 8, 10, 15, 0, 123456789, time.UTC)
	ev := func(id, typ, tenant string, data string) *eventOut {
		e := &eventOut{ID: id, Type: typ, TenantID: tenant, CreatedAt: at, Data: json.RawMessage(data)}
		if data == "nil" {
			e.Data = nil
		}
		return e
	}
	p := problemFor(invalid("data", "must be <a> JSON & object"))
	items := []batchItem{
		{Status: 202, Event: ev("o-1", "order.created", "acme", `{"n":1,"s":"a b \" \\ } {"}`)},
		{Status: 200, Event: ev("o-2", "order.created", "acme", `{ "n" : 1 }`)},
		{Status: 202, Event: ev("o-3", "café.<b>", "a&\"b", `{"k":"<&>"}`)},
		{Status: 202, Event: ev("o-4", "a.b", "acme", "{\"k\":\"\u2028\xff\"}")},
		{Status: 202, Event: ev("o-5", "a.b", "acme", "nil")},
		{Status: 202, Event: ev("o-6", "a.b", "acme", "{\"k\":\n[1,\t2]}")},
		{Status: 400, Error: &p},
		{Status: 202, Event: &eventOut{ID: "o-7", Type: "a.b", TenantID: "acme", Data: json.RawMessage(`{}`),
			CreatedAt: time.Date(2026, 5, 8, 10, 15, 0, 0, time.FixedZone("", 5*3600+1800))}},
	}
	reference := func(v any) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "error"
		}
		return buf.String()
	}
	got := func(v any) string {
		b, err := encodeJSON(v)
		if err != nil {
			return "error"
		}
		return string(b)
	}
	for i := range items {
		// Each item alone, then all of them up to it.
		for _, o := range []batchOut{{Data: items[i : i+1]}, {Data: items[:i+1]}} {
			if g, w := got(o), reference(o); g != w {
				t.Errorf("items %d: answer\n%s\nwant\n%s", i, g, w)
			}
		}
	}
	// A time that encoding/json refuses fails the answer as before.
	bad := batchOut{Data: []batchItem{{Status: 202, Event: &eventOut{ID: "x", Type: "a.b", Data: json.RawMessage(`{}`),
		CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}}
	if g := got(bad); g != "error" {
		t.Errorf("answer with year 10000 = %s, want an error", g)
	}
	// The plain items do take the fast path.
	if _, ok := items[0].appendJSON(nil); !ok {
		t.Error("a plain item is not appended")
	}
}
