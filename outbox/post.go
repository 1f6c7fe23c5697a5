package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// row is one outbox row read by the relay.
type row struct {
	seq               int64
	id, tenantID, typ string
	data              string
}

// verdict is what became of one posted row.
type verdict int

const (
	retry   verdict = iota // Herald did not take it yet (429, 5xx, network): try again later
	relayed                // Herald has it (202 new, 200 repeat)
	dead                   // Herald refused it for good: move it to the dead table
)

// outcome is the verdict on one row, with Herald's status and reason.
type outcome struct {
	verdict    verdict
	status     int
	reason     string        // for dead rows
	retryAfter time.Duration // asked by Herald, for retried rows
}

// fatalError is an answer no retry can change: the key is wrong or lacks
// the right to ingest. The relay stops rather than spin.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// eventIn is the body of POST /v1/events.
type eventIn struct {
	ID       string          `json:"id"`
	TenantID string          `json:"tenantId"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
}

// problem is the part of an RFC 9457 problem the relay keeps.
type problem struct {
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// reason renders a problem as the dead row's reason: the status and the
// invalid fields, or the detail when no field is named.
func (p problem) reason(status int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", status)
	sep := ": "
	for _, e := range p.Errors {
		b.WriteString(sep + e.Field + ": " + e.Message)
		sep = "; "
	}
	switch {
	case len(p.Errors) > 0:
	case p.Detail != "":
		b.WriteString(": " + p.Detail)
	case p.Title != "":
		b.WriteString(": " + p.Title)
	}
	return b.String()
}

// poster posts rows to Herald: in batches through POST /v1/events/batch
// while the server has that route, one by one through POST /v1/events
// otherwise.
type poster struct {
	client      *http.Client
	server, key string
	concurrency int         // single posts in flight at once
	single      atomic.Bool // the server has no batch route
	userAgent   string
}

// post posts rows and returns one outcome per row, in order. A non-nil
// error is a fatalError; transient failures are retry outcomes.
func (p *poster) post(ctx context.Context, rows []row) ([]outcome, error) {
	out := make([]outcome, len(rows))
	// Rows whose data is not JSON (written around Write) cannot be encoded
	// into a request: they are dead before they are sent.
	var send []int
	for i, r := range rows {
		if json.Valid([]byte(r.data)) {
			send = append(send, i)
		} else {
			out[i] = outcome{verdict: dead, reason: "data is not valid JSON; the row was never sent"}
		}
	}
	if len(send) == 0 {
		return out, nil
	}
	var each []int
	for _, chunk := range chunks(rows, send) {
		if !p.single.Load() && len(chunk) > 1 {
			done, err := p.postBatch(ctx, rows, chunk, out)
			if err != nil {
				return out, err
			}
			if done {
				continue
			}
		}
		each = append(each, chunk...)
	}
	return out, p.postEach(ctx, rows, each, out)
}

// maxBatchData bounds the data of one batch request, well under Herald's
// 16 MiB limit on its body.
const maxBatchData = 8 << 20

// chunks splits the indexes send into runs whose data fits one batch.
func chunks(rows []row, send []int) [][]int {
	var out [][]int
	start, size := 0, 0
	for j, i := range send {
		n := len(rows[i].data) + len(rows[i].id) + len(rows[i].tenantID) + len(rows[i].typ) + 64
		if j > start && size+n > maxBatchData {
			out = append(out, send[start:j])
			start, size = j, 0
		}
		size += n
	}
	return append(out, send[start:])
}

// postBatch posts the rows at indexes send in one request. It reports
// false when the rows must be posted one by one instead: the server has no
// batch route, or refused the request as a whole (too large, say), which
// one-by-one posts narrow down to the rows at fault.
func (p *poster) postBatch(ctx context.Context, rows []row, send []int, out []outcome) (bool, error) {
	body := struct {
		Events []eventIn `json:"events"`
	}{Events: make([]eventIn, len(send))}
	for j, i := range send {
		body.Events[j] = rows[i].event()
	}
	status, header, raw, err := p.do(ctx, "/v1/events/batch", body)
	switch {
	case err != nil:
		fill(out, send, outcome{verdict: retry, reason: err.Error()})
		return true, nil
	case status == http.StatusOK:
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		p.single.Store(true) // an older Herald: POST /v1/events/batch is GET /v1/events/{id}
		return false, nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return true, refusedKey(status, raw)
	case transient(status):
		fill(out, send, outcome{verdict: retry, status: status, retryAfter: retryAfter(header)})
		return true, nil
	default:
		return false, nil
	}
	var answer struct {
		Data []struct {
			Status int     `json:"status"`
			Error  problem `json:"error"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil || len(answer.Data) != len(send) {
		// Not the answer promised: nothing is known to be stored or
		// refused, so everything is tried again.
		fill(out, send, outcome{verdict: retry, status: status, reason: "unexpected batch answer"})
		return true, nil
	}
	after := retryAfter(header) // a batch over a tenant's rate limit
	for j, i := range send {
		a := answer.Data[j]
		out[i] = judge(a.Status, a.Error, after)
	}
	return true, nil
}

// postEach posts the rows at indexes send one by one, a few at a time.
func (p *poster) postEach(ctx context.Context, rows []row, send []int, out []outcome) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fatal error
		next  atomic.Int64
	)
	for range min(p.concurrency, len(send)) {
		wg.Go(func() {
			for {
				j := int(next.Add(1)) - 1
				if j >= len(send) {
					return
				}
				i := send[j]
				status, header, raw, err := p.do(ctx, "/v1/events", rows[i].event())
				if err != nil {
					out[i] = outcome{verdict: retry, reason: err.Error()}
					continue
				}
				if status == http.StatusUnauthorized || status == http.StatusForbidden {
					mu.Lock()
					if fatal == nil {
						fatal = refusedKey(status, raw)
					}
					mu.Unlock()
					return
				}
				var pr problem
				if status >= 400 {
					_ = json.Unmarshal(raw, &pr) // a body that is no problem leaves only the status
				}
				out[i] = judge(status, pr, retryAfter(header))
			}
		})
	}
	wg.Wait()
	return fatal
}

// judge turns Herald's status for one event into a verdict.
func judge(status int, pr problem, after time.Duration) outcome {
	switch {
	case status == http.StatusOK || status == http.StatusAccepted:
		return outcome{verdict: relayed, status: status}
	case transient(status) || status < 400:
		return outcome{verdict: retry, status: status, retryAfter: after, reason: pr.reason(status)}
	default:
		return outcome{verdict: dead, status: status, reason: pr.reason(status)}
	}
}

// transient reports whether a status asks to try again later.
func transient(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

func refusedKey(status int, raw []byte) error {
	var pr problem
	_ = json.Unmarshal(raw, &pr)
	return &fatalError{fmt.Errorf("herald refused the key: %s", pr.reason(status))}
}

// maxAnswer caps how much of an answer is read: a batch answer of 500
// events echoes each event, up to Herald's payload limit.
const maxAnswer = 64 << 20

// do posts body as JSON to path and returns the status, headers and body.
func (p *poster) do(ctx context.Context, path string, body any) (int, http.Header, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.server+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.key)
	if p.userAgent != "" {
		req.Header.Set("User-Agent", p.userAgent)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("post %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		// The answer was lost: whether Herald stored the events is
		// unknown, and a repeat is harmless.
		return 0, nil, nil, fmt.Errorf("read answer of %s: %w", path, err)
	}
	return resp.StatusCode, resp.Header, raw, nil
}

func (r row) event() eventIn {
	return eventIn{ID: r.id, TenantID: r.tenantID, Type: r.typ, Data: json.RawMessage(r.data)}
}

func fill(out []outcome, idx []int, o outcome) {
	for _, i := range idx {
		out[i] = o
	}
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
