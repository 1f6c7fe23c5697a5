// Package sender is the only HTTP client that reaches customer URLs. Webhook
// deliveries, test sends and operational notifications all go through it,
// because it is where Herald defends the network it runs in: every dialled IP
// is checked against a Policy at connect time, redirects are never followed,
// proxies from the environment are ignored, each attempt has one deadline
// that covers everything, and responses are read only up to a cap.
//
// Send never returns an error: every outcome, including a refused
// destination, is a Result with an ErrorClass and a message that is safe to
// show the endpoint's owner, ready to be recorded as an attempt.
package sender

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxResponse = 64 << 10
	DefaultStoredBody  = 16 << 10
	DefaultTimeout     = 15 * time.Second
	DefaultUserAgent   = "Herald"
)

// Config configures a Client. The zero value is the safe default: public
// destinations only, 15 s per attempt, 64 KiB read, 16 KiB kept.
type Config struct {
	// Allow opens exactly these prefixes in addition to public addresses
	// (for development, 127.0.0.1/32). See NewPolicy for what it refuses.
	Allow []netip.Prefix
	// MaxResponse is how many bytes of a response body are read at most;
	// past it the connection is closed. Default 64 KiB.
	MaxResponse int64
	// StoredBody is how many of those bytes Result.Body keeps, at most
	// MaxResponse. Default 16 KiB (or MaxResponse, if that is smaller).
	StoredBody int
	// UserAgent is sent unless the request sets its own, such as
	// "Herald/1.4.0". Default "Herald".
	UserAgent string
	// DefaultTimeout is the deadline of an attempt whose Request has none.
	// Default 15 s.
	DefaultTimeout time.Duration
}

// Client sends webhook requests under a Policy. It keeps idle connections
// for reuse across attempts; it is safe for concurrent use.
type Client struct {
	policy      *Policy
	maxResponse int64
	storedBody  int
	userAgent   string
	timeout     time.Duration
	transport   *http.Transport
	http        *http.Client
	dialer      *net.Dialer
	tlsConfig   *tls.Config
}

// New returns a Client, or an error if cfg is invalid or its Allow list
// overlaps a range that is never allowed.
func New(cfg Config) (*Client, error) {
	policy, err := NewPolicy(cfg.Allow)
	if err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	c := &Client{
		policy:      policy,
		maxResponse: cmp.Or(cfg.MaxResponse, DefaultMaxResponse),
		storedBody:  cfg.StoredBody,
		userAgent:   cmp.Or(cfg.UserAgent, DefaultUserAgent),
		timeout:     cmp.Or(cfg.DefaultTimeout, DefaultTimeout),
	}
	if c.storedBody == 0 {
		c.storedBody = int(min(DefaultStoredBody, c.maxResponse))
	}
	switch {
	case c.maxResponse < 0:
		return nil, errors.New("sender: MaxResponse must not be negative")
	case c.storedBody < 0 || int64(c.storedBody) > c.maxResponse:
		return nil, errors.New("sender: StoredBody must be between 0 and MaxResponse")
	case c.timeout < 0:
		return nil, errors.New("sender: DefaultTimeout must not be negative")
	}
	c.dialer = &net.Dialer{
		ControlContext: policy.control,
		KeepAlive:      30 * time.Second,
	}
	c.tlsConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
	}
	// HTTP/1.1 only: a closed body then closes exactly one connection, and
	// every failure has a typed error (HTTP/2 reports stream errors with
	// unexported types). Webhook receivers gain little from multiplexing.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	c.transport = &http.Transport{
		Proxy:          nil, // never HTTP_PROXY: a proxy would dial past the Policy
		DialContext:    c.dialer.DialContext,
		DialTLSContext: c.dialTLS,
		Protocols:      &protocols,
		// Deliveries to one host run up to the in-flight caps of all its
		// endpoints at once (a platform's many endpoints often share a
		// host); keep that many idle so that busy hosts reuse connections
		// instead of dialing one per attempt: up to the dispatcher's
		// default of 512 workers, all on one host.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
		// The response is stored as received; gzip would also let a small
		// response inflate past the read cap's intent.
		DisableCompression: true,
		// Headers are stored with the attempt; a megabyte of them is abuse.
		MaxResponseHeaderBytes: 64 << 10,
		// No separate TLS, header or idle-read timeouts: the attempt's one
		// context deadline covers all of them.
	}
	c.http = &http.Client{
		Transport: c.transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c, nil
}

// Policy returns the destination policy the Client enforces, so that other
// parts (such as endpoint validation) can judge addresses the same way.
func (c *Client) Policy() *Policy { return c.policy }

// CloseIdleConnections closes kept-alive connections, for shutdown.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// Request is one attempt to deliver a webhook. It is always a POST.
type Request struct {
	// URL is the endpoint, an absolute http or https URL; any other is
	// refused with class blocked_destination.
	URL string
	// Header is sent as given, before the defaults: User-Agent and
	// Content-Type (application/json) are added only if absent. The caller
	// has already refused headers an endpoint may not set.
	Header http.Header
	// Body is the payload, sent unchanged.
	Body []byte
	// Timeout is the deadline of the whole attempt: connect, TLS, request,
	// response headers and body. Zero (or less) means Config.DefaultTimeout.
	Timeout time.Duration
}

// Result is the outcome of one attempt, as recorded in the attempt log.
type Result struct {
	// RequestHeader is the header sent, defaults included (net/http adds
	// only Host and Content-Length), for the attempt log. When
	// Request.Header has both defaults already, it is that same map: the
	// sender does not change it, and neither does net/http.
	RequestHeader http.Header
	// StatusCode is the response status; 0 when no response arrived. A
	// failure while reading the body keeps it, with that failure's class.
	StatusCode int
	// Header is the response header; nil when no response arrived.
	Header http.Header
	// Body is the stored part of the response body: at most StoredBody bytes.
	Body []byte
	// Duration is how long the attempt took, until the body was read.
	Duration time.Duration
	// Class is why the attempt failed, "" when it succeeded.
	Class ErrorClass
	// Message describes the failure for the endpoint's owner; "" on success.
	// It holds no internal detail (no Herald addresses or resolver names).
	Message string
	// Location is the Location header of a 3xx response.
	Location string
	// RetryAfter is how long the response's Retry-After header asks to wait,
	// relative to when it arrived; 0 when absent or invalid. It is not
	// capped: the retry policy applies its own ceiling.
	RetryAfter time.Duration
}

// Success reports whether the endpoint accepted the delivery: a 2xx whose
// body was read (up to MaxResponse) within the deadline.
func (r Result) Success() bool {
	return r.Class == "" && r.StatusCode >= 200 && r.StatusCode < 300
}

// errAttemptTimeout is the cause of the attempt context when its own
// deadline passes, which tells a timeout apart from the caller cancelling.
var errAttemptTimeout = errors.New("attempt deadline exceeded")

// Send makes one attempt: a POST of r.Body to r.URL. It returns when the
// response has been read (up to MaxResponse), when the attempt's timeout
// passes (class timeout), or when ctx ends (class interrupted), whichever
// comes first. Every outcome is a Result; there is no error.
func (c *Client) Send(ctx context.Context, r Request) Result {
	start := time.Now()
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = c.timeout
	}
	// The one deadline of the attempt. Its cause tells our own timeout
	// apart from the caller's context ending, which may also be a deadline.
	actx, cancel := context.WithTimeoutCause(ctx, timeout, errAttemptTimeout)
	defer cancel()

	res := c.send(actx, r)
	if res.err != nil {
		res.Class, res.Message = classify(res.err)
		// Once the context has ended, whatever the transport reports (reset,
		// EOF, "context canceled") is a consequence of it, so the context
		// decides. A blocked destination stays blocked: nothing was dialled.
		if actx.Err() != nil && res.Class != ClassBlocked {
			if errors.Is(context.Cause(actx), errAttemptTimeout) {
				res.Class = ClassTimeout
				res.Message = fmt.Sprintf("no complete response within %v", timeout)
			} else {
				res.Class = ClassInterrupted
				res.Message = "Herald interrupted the attempt before it completed"
			}
		}
	}
	res.Duration = time.Since(start)
	return res.Result
}

// errNotHTTP reports a URL the sender refuses before dialling anything.
var errNotHTTP = errors.New("endpoint URL must be an absolute http or https URL")

// attempt is a Result under construction, with the error that ended it.
type attempt struct {
	Result
	err error
}

func (c *Client) send(ctx context.Context, r Request) attempt {
	var a attempt
	a.RequestHeader = c.header(r.Header)
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		a.err = errNotHTTP
		return a
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		a.err = errNotHTTP
		return a
	}
	req.Header = a.RequestHeader // net/http only reads it
	resp, err := c.http.Do(req)
	if err != nil {
		a.err = err
		return a
	}
	a.StatusCode = resp.StatusCode
	a.Header = resp.Header
	a.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		a.Location = resp.Header.Get("Location")
	}
	a.Body, a.err = c.readBody(resp.Body)
	if a.err != nil {
		return a
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Class, a.Message = ClassRedirect, statusMessage(resp.StatusCode, a.Location)
	default:
		a.Class, a.Message = ClassHTTPStatus, statusMessage(resp.StatusCode, "")
	}
	return a
}

// header returns the request header: the caller's, then the defaults. It
// is h itself when h has both (as the dispatcher's headers do), and a copy
// otherwise, so that the caller's map never changes: a copy for every
// attempt, and another for the request, were a tenth of the attempt's
// allocations.
func (c *Client) header(h http.Header) http.Header {
	_, ua := h["User-Agent"]
	_, ct := h["Content-Type"]
	if ua && ct {
		return h
	}
	out := h.Clone()
	if out == nil {
		out = make(http.Header)
	}
	if _, ok := out["User-Agent"]; !ok {
		out.Set("User-Agent", c.userAgent)
	}
	if _, ok := out["Content-Type"]; !ok {
		out.Set("Content-Type", "application/json")
	}
	return out
}

// readBody reads at most maxResponse bytes and keeps the first storedBody.
// A body that ends within the cap is read to EOF, which returns the
// connection to the idle pool before Read returns; a longer body is closed
// unread, which closes the connection, so the endpoint's writes fail and an
// endless response costs Herald nothing more.
func (c *Client) readBody(body io.ReadCloser) ([]byte, error) {
	defer body.Close()
	kept := &prefixWriter{max: c.storedBody}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	_, err := io.CopyBuffer(kept, io.LimitReader(body, c.maxResponse), *buf)
	return kept.buf, err
}

// copyBuffers are the buffers responses are read through: io.Copy would
// allocate 32 KiB for each attempt, most of whose responses are a few
// bytes.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}

// prefixWriter keeps the first max bytes written to it and discards the rest.
type prefixWriter struct {
	buf []byte
	max int
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	if room := w.max - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// dialTLS dials through the Policy and runs the TLS handshake here rather
// than in net/http, so that any handshake failure is marked as TLS: many of
// crypto/tls's errors have no exported type.
func (c *Client) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		conn.Close()
		return nil, err
	}
	cfg := c.tlsConfig.Clone()
	cfg.ServerName = host
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, &handshakeError{err: err}
	}
	return tc, nil
}
