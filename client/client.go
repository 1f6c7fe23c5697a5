// Package client is a typed Go client of Herald's HTTP API.
//
// Every route of the API has a method; answers decode into the types of
// this package, and a refusal by the server is a *Problem (an RFC 9457
// problem) that callers inspect with errors.As:
//
//	c, err := client.New("http://127.0.0.1:8080", client.WithKey(key))
//	ep, err := c.GetEndpoint(ctx, "ep_…")
//	var p *client.Problem
//	if errors.As(err, &p) && p.Status == 404 { … }
//
// Requests that are safe to repeat are retried when the server answers 429
// or 503, after the time its Retry-After asks for (see WithRetry).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one Herald server. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	key    string
	hc     *http.Client
	retry  Retry
	agent  string
	header http.Header
}

// Retry says how a Client retries requests answered with 429 or 503.
type Retry struct {
	// Max is how many times one request is retried; 0 disables retries.
	Max int
	// Wait is the delay before the first retry when the answer has no
	// Retry-After; it doubles with each retry.
	Wait time.Duration
	// MaxWait caps any one delay, Retry-After included. A server that asks
	// for longer gets its answer returned instead of a wait.
	MaxWait time.Duration
}

// DefaultRetry returns the retry policy of a new Client: three retries,
// from half a second apart, waiting at most 30 seconds for any one.
func DefaultRetry() Retry {
	return Retry{Max: 3, Wait: 500 * time.Millisecond, MaxWait: 30 * time.Second}
}

// Option configures a Client.
type Option func(*Client)

// WithKey sets the API key sent as "Authorization: Bearer <key>".
func WithKey(key string) Option { return func(c *Client) { c.key = key } }

// WithHTTPClient sets the http.Client that sends requests (by default one
// with a 60-second timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetry sets the retry policy; Retry{} disables retries.
func WithRetry(r Retry) Option { return func(c *Client) { c.retry = r } }

// WithUserAgent sets the User-Agent of requests.
func WithUserAgent(ua string) Option { return func(c *Client) { c.agent = ua } }

// New returns a Client of the server at baseURL, such as
// "https://herald.example.com".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q is not an absolute http or https URL", baseURL)
	}
	c := &Client{base: u, hc: &http.Client{Timeout: time.Minute}, retry: DefaultRetry(), agent: "herald-go-client"}
	for _, o := range opts {
		o(c)
	}
	if c.retry.Max < 0 || c.retry.Wait < 0 || c.retry.MaxWait < 0 {
		return nil, fmt.Errorf("client: retry policy %+v has a negative value", c.retry)
	}
	return c, nil
}

// request is one API call.
type request struct {
	method     string
	path       string // escaped; see p()
	query      url.Values
	body       any    // encoded as JSON unless nil
	mediaType  string // of the body; default application/json
	header     http.Header
	idempotent bool // safe to send again after a 429 or 503
}

// p builds a path from a format whose verbs are path segments, escaping each.
func p(format string, segs ...string) string {
	args := make([]any, len(segs))
	for i, s := range segs {
		args[i] = url.PathEscape(s)
	}
	return fmt.Sprintf(format, args...)
}

// do sends r and decodes a successful answer into out (unless nil). It
// returns the status of the answer.
func (c *Client) do(ctx context.Context, r request, out any) (int, error) {
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return 0, fmt.Errorf("client: encode %s %s: %w", r.method, r.path, err)
		}
	}
	u := *c.base
	u.RawPath = c.base.EscapedPath() + r.path // r.path is escaped: an id may hold "/" or "%"
	u.Path, _ = url.PathUnescape(u.RawPath)   // PathEscape'd segments always unescape
	u.RawQuery = r.query.Encode()
	retries := 0
	if r.idempotent || r.method == http.MethodGet || r.method == http.MethodDelete {
		retries = c.retry.Max
	}
	for attempt := 0; ; attempt++ {
		status, hdr, raw, err := c.send(ctx, r, u.String(), body)
		if err != nil {
			return 0, err
		}
		if status < 300 {
			if out != nil && len(raw) > 0 {
				if err := json.Unmarshal(raw, out); err != nil {
					return status, fmt.Errorf("client: decode answer of %s %s: %w", r.method, r.path, err)
				}
			}
			return status, nil
		}
		prob := newProblem(status, hdr, raw)
		if attempt >= retries || (status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable) {
			return status, prob
		}
		wait := c.retry.Wait << attempt
		if prob.RetryAfter > 0 {
			wait = prob.RetryAfter
		}
		if wait > c.retry.MaxWait {
			return status, prob
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return status, fmt.Errorf("client: waiting to retry %s %s: %w (last answer: %w)", r.method, r.path, ctx.Err(), prob)
		case <-t.C:
		}
	}
}

// send makes one HTTP request and reads the whole answer.
func (c *Client) send(ctx context.Context, r request, u string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("client: %w", err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", cmpOr(r.mediaType, "application/json"))
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", c.agent)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, &UnreachableError{Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, nil, &UnreachableError{Err: fmt.Errorf("read answer of %s %s: %w", r.method, r.path, err)}
	}
	return resp.StatusCode, resp.Header, raw, nil
}

// maxAnswer bounds the answer read into memory: a page of 250 attempts,
// each with up to 16 KiB of response body, fits.
const maxAnswer = 64 << 20

// UnreachableError is the error of a request that got no answer: the
// server could not be reached, or the connection broke.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return "herald server unreachable: " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

var errNoID = errors.New("client: an id is required")

// need returns errNoID when one of ids is empty, so that a call never
// turns into a request for a list ("/v1/events/" + "").
func need(ids ...string) error {
	for _, id := range ids {
		if id == "" {
			return errNoID
		}
	}
	return nil
}
