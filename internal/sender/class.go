package sender

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrorClass names why an attempt failed, in words an endpoint owner can act
// on. The values are stored with each attempt and shown in the API, so they
// never change.
type ErrorClass string

// The classes of a failed attempt. A successful attempt has class "".
const (
	// ClassTimeout: no complete response (headers and body) arrived within the
	// attempt's deadline.
	ClassTimeout ErrorClass = "timeout"
	// ClassDNS: the endpoint's host name did not resolve.
	ClassDNS ErrorClass = "dns"
	// ClassRefused: no connection could be made: refused, or no route.
	ClassRefused ErrorClass = "refused"
	// ClassTLS: the TLS handshake failed, including certificate verification.
	ClassTLS ErrorClass = "tls"
	// ClassBlocked: the destination address is not allowed (private, loopback,
	// metadata, reserved), or the URL is not http(s). Nothing was sent.
	ClassBlocked ErrorClass = "blocked_destination"
	// ClassRedirect: the endpoint answered 3xx. Redirects are never followed;
	// Result.Location says where it pointed.
	ClassRedirect ErrorClass = "redirect"
	// ClassReset: the connection broke before a complete, valid response:
	// reset, closed early, or an unparseable HTTP response.
	ClassReset ErrorClass = "reset"
	// ClassInterrupted: Herald itself cancelled the attempt (the caller's
	// context ended, as in shutdown); the endpoint is not to blame.
	ClassInterrupted ErrorClass = "interrupted"
	// ClassHTTPStatus: the endpoint answered with a status that is neither
	// 2xx nor 3xx.
	ClassHTTPStatus ErrorClass = "http_status"
)

// handshakeError marks an error of the TLS handshake that the sender runs
// itself (see Client.dialTLS), so that every handshake failure is classed
// tls, even those crypto/tls reports with untyped errors.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "tls handshake: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// classify maps a transport error to a class and a message for the endpoint
// owner. It inspects error types only, never message text, and builds the
// message itself, because err.Error() can carry Herald's own addresses
// (local ports, resolver IPs) that must not reach a customer. Context ends
// are judged by the caller, which knows which context ended.
func classify(err error) (ErrorClass, string) {
	if b, ok := errors.AsType[*BlockedError](err); ok {
		return ClassBlocked, b.Error()
	}
	if errors.Is(err, errNotHTTP) {
		return ClassBlocked, errNotHTTP.Error()
	}
	if d, ok := errors.AsType[*net.DNSError](err); ok {
		switch {
		case d.IsNotFound:
			return ClassDNS, fmt.Sprintf("DNS lookup of %q: no such host", d.Name)
		case d.IsTimeout:
			return ClassDNS, fmt.Sprintf("DNS lookup of %q timed out", d.Name)
		default:
			return ClassDNS, fmt.Sprintf("DNS lookup of %q failed", d.Name)
		}
	}
	if a, ok := errors.AsType[*net.AddrError](err); ok {
		// The dialler's "no suitable address found": the name resolved, but
		// to no address it can dial.
		return ClassDNS, fmt.Sprintf("host %q has no usable address", a.Addr)
	}
	if msg, ok := tlsMessage(err); ok {
		return ClassTLS, msg
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused, "connection refused"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return ClassRefused, "no route to the endpoint's address"
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		// A timeout that is not the attempt's deadline, such as the kernel
		// giving up on a connect.
		return ClassTimeout, "the connection timed out"
	}
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ClassReset, "connection reset by the endpoint"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassReset, "the endpoint closed the connection before a complete response"
	}
	// What is left is mostly a malformed or oversized HTTP response, which
	// net/http reports with unexported error types.
	return ClassReset, "the connection failed before a complete, valid HTTP response"
}

// tlsMessage describes a TLS failure, or reports false if err is not one.
func tlsMessage(err error) (string, bool) {
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return "the endpoint did not answer with TLS", true
	}
	if cv, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return "TLS certificate not accepted: " + x509Text(cv.Err), true
	}
	if x, ok := x509Error(err); ok {
		return "TLS certificate not accepted: " + x509Text(x), true
	}
	if a, ok := errors.AsType[tls.AlertError](err); ok {
		return "TLS handshake failed: alert " + a.Error(), true
	}
	h, ok := errors.AsType[*handshakeError](err)
	if !ok {
		return "", false
	}
	// crypto/tls reports an alert from the peer as a *net.OpError with this
	// Op and an unexported alert type whose text is the alert's name.
	if op, ok := errors.AsType[*net.OpError](h.err); ok && op.Op == "remote error" && op.Err != nil {
		return "TLS handshake rejected by the endpoint: " + op.Err.Error(), true
	}
	switch {
	case errors.Is(h.err, syscall.ECONNRESET), errors.Is(h.err, io.EOF), errors.Is(h.err, io.ErrUnexpectedEOF):
		return "TLS handshake failed: the endpoint closed the connection", true
	}
	return "TLS handshake failed", true
}

// x509Error finds a certificate error that is not wrapped in a
// tls.CertificateVerificationError.
func x509Error(err error) (error, bool) {
	if e, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return e, true
	}
	if e, ok := errors.AsType[x509.HostnameError](err); ok {
		return e, true
	}
	if e, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return e, true
	}
	if e, ok := errors.AsType[x509.SystemRootsError](err); ok {
		return e, true
	}
	return nil, false
}

// x509Text is the text of a certificate error. It describes the endpoint's
// own certificate only, so it is safe to show.
func x509Text(err error) string {
	if err == nil {
		return "verification failed"
	}
	return strings.TrimPrefix(err.Error(), "x509: ")
}

// statusMessage describes a response that is not a success.
func statusMessage(code int, location string) string {
	text := http.StatusText(code)
	if code >= 300 && code < 400 {
		if location == "" {
			return fmt.Sprintf("redirect %d %s without a Location; redirects are not followed", code, text)
		}
		return fmt.Sprintf("redirect %d %s to %s; redirects are not followed", code, text, truncate(location, maxLocationInMessage))
	}
	if text == "" {
		return fmt.Sprintf("the endpoint answered HTTP %d", code)
	}
	return fmt.Sprintf("the endpoint answered HTTP %d %s", code, text)
}

// maxLocationInMessage bounds how much of a Location header a message
// repeats; Result.Location keeps all of it.
const maxLocationInMessage = 256

// truncate shortens s to at most n bytes on a valid UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// parseRetryAfter reads a Retry-After header (RFC 9110, section 10.2.3):
// either a number of seconds or an HTTP date, which is taken relative to now.
// It returns 0 when the header is absent, malformed, or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			// All digits but too large for 64 bits still means "much later";
			// anything else is malformed.
			if ne, ok := errors.AsType[*strconv.NumError](err); ok && errors.Is(ne.Err, strconv.ErrRange) {
				return math.MaxInt64
			}
			return 0
		}
		if secs > math.MaxInt64/uint64(time.Second) {
			return math.MaxInt64
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return max(t.Sub(now), 0)
}
