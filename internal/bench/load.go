package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sent is one event a producer sent and Herald accepted.
type sent struct {
	id     string
	at     time.Time // just before the request that carried it was sent
	tenant int32
	typ    int32
}

// load is the send phase: Concurrency producers post events, Batch to a
// request, paced so that event n is not sent before start + n/Rate.
type load struct {
	cfg     Config
	api     *api
	tenants []string
	run     string
	pad     string

	start, end time.Time
	seq        atomic.Int64 // events taken by producers
	accepted   atomic.Int64
	rejected   atomic.Int64 // answered with a status other than 200 or 202
	failed     atomic.Int64 // whose request got no answer
	lastErr    atomic.Pointer[string]
	fatal      error // set once, under fatalOnce: the run cannot go on
	fatalOnce  sync.Once
}

// errNoBatch says that the server has no batch route.
var errNoBatch = errors.New("the server has no POST /v1/events/batch (404); use --batch 1")

func newLoad(cfg Config, a *api, tenants []string, run string) *load {
	return &load{cfg: cfg, api: a, tenants: tenants, run: run, pad: strings.Repeat("x", cfg.Payload)}
}

// send runs the producers until Duration has passed and returns what was
// accepted and how long sending took.
func (l *load) send(ctx context.Context) ([]sent, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.start = time.Now()
	l.end = l.start.Add(l.cfg.Duration)
	out := make([][]sent, l.cfg.Concurrency)
	var wg sync.WaitGroup
	for p := range l.cfg.Concurrency {
		wg.Go(func() { out[p] = l.produce(ctx, cancel) })
	}
	wg.Wait()
	elapsed := time.Since(l.start)
	if l.fatal != nil {
		return nil, elapsed, l.fatal
	}
	if err := ctx.Err(); err != nil && time.Now().Before(l.end) {
		return nil, elapsed, err
	}
	var all []sent
	for _, s := range out {
		all = append(all, s...)
	}
	return all, elapsed, nil
}

// produce is one producer's loop.
func (l *load) produce(ctx context.Context, cancel func()) []sent {
	var mine []sent
	b := int64(l.cfg.Batch)
	var body, answer bytes.Buffer
	for ctx.Err() == nil {
		n0 := l.seq.Add(b) - b
		if l.cfg.Rate > 0 {
			due := l.start.Add(time.Duration(float64(n0) / l.cfg.Rate * float64(time.Second)))
			if !due.Before(l.end) || !hold(ctx, time.Until(due)) {
				return mine
			}
		} else if !time.Now().Before(l.end) {
			return mine
		}
		batch := l.build(&body, n0)
		at := time.Now()
		statuses, err := l.post(ctx, body.Bytes(), &answer)
		if err != nil {
			if errors.Is(err, errNoBatch) {
				l.fatalOnce.Do(func() { l.fatal = err })
				cancel()
				return mine
			}
			if ctx.Err() != nil {
				return mine
			}
			l.failed.Add(int64(len(batch)))
			l.note(err.Error())
			continue
		}
		for i, s := range batch {
			if statuses[i] == http.StatusAccepted || statuses[i] == http.StatusOK {
				s.at = at
				mine = append(mine, s)
				l.accepted.Add(1)
			} else {
				l.rejected.Add(1)
			}
		}
	}
	return mine
}

// note keeps the last error for the report.
func (l *load) note(msg string) { l.lastErr.Store(&msg) }

// build writes the request body carrying the events n0, n0+1, … (one
// event, or {"events": [...]}) and returns them. Batch number k goes to
// tenant k mod Tenants, and its events take the types in turn, so that
// every (tenant, type) pair gets the same share.
func (l *load) build(body *bytes.Buffer, n0 int64) []sent {
	b := int64(l.cfg.Batch)
	k := n0 / b
	t := int(k % int64(l.cfg.Tenants))
	body.Reset()
	batch := make([]sent, 0, b)
	if b > 1 {
		body.WriteString(`{"events":[`)
	}
	for i := range b {
		typ := int((k/int64(l.cfg.Tenants)*b + i) % int64(l.cfg.Endpoints))
		id := "evt_bench_" + l.run + "_" + strconv.FormatInt(n0+i, 10)
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"id":"`)
		body.WriteString(id)
		body.WriteString(`","tenantId":"`)
		body.WriteString(l.tenants[t])
		body.WriteString(`","type":"`)
		body.WriteString(typeName(typ))
		body.WriteString(`","data":`)
		l.writeData(body, n0+i)
		body.WriteByte('}')
		batch = append(batch, sent{id: id, tenant: int32(t), typ: int32(typ)})
	}
	if b > 1 {
		body.WriteString(`]}`)
	}
	return batch
}

// writeData writes an event's data: {"seq":n,"pad":"xx…"}, padded to
// Payload bytes when that is more than the object without padding.
func (l *load) writeData(body *bytes.Buffer, n int64) {
	const head, mid, end = `{"seq":`, `,"pad":"`, `"}`
	num := strconv.FormatInt(n, 10)
	pad := max(0, l.cfg.Payload-len(head)-len(num)-len(mid)-len(end))
	body.WriteString(head)
	body.WriteString(num)
	body.WriteString(mid)
	body.WriteString(l.pad[:pad])
	body.WriteString(end)
}

// post sends one request and returns the status of each of its events;
// answer holds the answer meanwhile.
func (l *load) post(ctx context.Context, body []byte, answer *bytes.Buffer) ([]int, error) {
	if l.cfg.Batch == 1 {
		code, raw, err := l.api.doInto(ctx, "POST", "/v1/events", body, answer)
		if err != nil {
			return nil, err
		}
		if code != http.StatusAccepted && code != http.StatusOK {
			l.note(fmt.Sprintf("POST /v1/events: status %d: %s", code, clip(raw)))
		}
		return []int{code}, nil
	}
	code, raw, err := l.api.doInto(ctx, "POST", "/v1/events/batch", body, answer)
	if err != nil {
		return nil, err
	}
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		return nil, errNoBatch
	}
	statuses := make([]int, l.cfg.Batch)
	if code != http.StatusOK {
		l.note(fmt.Sprintf("POST /v1/events/batch: status %d: %s", code, clip(raw)))
		for i := range statuses {
			statuses[i] = code
		}
		return statuses, nil
	}
	if scanStatuses(raw, statuses) {
		return statuses, nil
	}
	var out struct {
		Data []struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Data) != l.cfg.Batch {
		return nil, fmt.Errorf("POST /v1/events/batch: unexpected answer: %s", clip(raw))
	}
	for i, d := range out.Data {
		statuses[i] = d.Status
		if d.Status != http.StatusAccepted && d.Status != http.StatusOK {
			l.note(fmt.Sprintf("POST /v1/events/batch: event status %d: %s", d.Status, clip(d.Error)))
		}
	}
	return statuses, nil
}

// scanStatuses reads the status of each item of a batch's answer into
// statuses, and reports whether it could: the answer must be exactly
// {"data":[…]} with one object per event, each starting with its
// "status", as Herald writes it, and every status 202 or 200. Anything
// else (a refused event, whose problem the report quotes; another layout)
// is left to encoding/json. The events that the answer echoes, a
// kilobyte each, are skipped over, not decoded: this is the producers'
// largest cost after the request itself.
func scanStatuses(raw []byte, statuses []int) bool {
	rest, ok := bytes.CutPrefix(raw, []byte(`{"data":[`))
	for i := range statuses {
		if !ok {
			return false
		}
		if i > 0 {
			if rest, ok = bytes.CutPrefix(rest, []byte(",")); !ok {
				return false
			}
		}
		if rest, ok = bytes.CutPrefix(rest, []byte(`{"status":`)); !ok {
			return false
		}
		n := 0
		for n < len(rest) && n < 4 && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		code, err := strconv.Atoi(string(rest[:n]))
		if err != nil || (code != http.StatusAccepted && code != http.StatusOK) {
			return false
		}
		statuses[i] = code
		rest, ok = skipObject(rest[n:])
	}
	if !ok {
		return false
	}
	rest, ok = bytes.CutPrefix(rest, []byte("]}"))
	return ok && len(bytes.TrimSpace(rest)) == 0
}

// skipObject returns what follows the end of the JSON object whose
// opening brace came before b, and whether the object ends. It follows
// strings and nesting only: the values in it are not checked.
func skipObject(b []byte) ([]byte, bool) {
	depth := 1
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end := stringEnd(b[i+1:])
			if end < 0 {
				return nil, false
			}
			i += 1 + end
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return b[i+1:], true
			}
		}
	}
	return nil, false
}

// stringEnd returns the index in b of the quote that ends a JSON string
// whose opening quote came just before b, or -1.
func stringEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		q := i + j
		escapes := 0
		for k := q - 1; k >= 0 && b[k] == '\\'; k-- {
			escapes++
		}
		if escapes%2 == 0 {
			return q
		}
		i = q + 1
	}
}
