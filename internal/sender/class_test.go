package sender

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClassify checks the mapping on errors wrapped the way net/http and
// net wrap them, so that it holds without a network.
func TestClassify(t *testing.T) {
	t.Parallel()
	// wrap nests err the way a failed http.Client.Do reports a dial error.
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://example.com/hook", Err: &net.OpError{
			Op: "dial", Net: "tcp",
			Addr: &net.TCPAddr{IP: net.IPv4(10, 9, 8, 7), Port: 53},
			Err:  err,
		}}
	}
	tests := []struct {
		name string
		err  error
		want ErrorClass
	}{
		{"blocked", wrap(&BlockedError{Addr: netip.MustParseAddr("10.0.0.1")}), ClassBlocked},
		{"not http", errNotHTTP, ClassBlocked},
		{"dns not found", wrap(&net.DNSError{Err: "no such host", Name: "example.invalid", Server: "10.0.0.2:53", IsNotFound: true}), ClassDNS},
		{"dns timeout", wrap(&net.DNSError{Err: "i/o timeout", Name: "example.com", IsTimeout: true}), ClassDNS},
		{"no usable address", wrap(&net.AddrError{Err: "no suitable address found", Addr: "example.com"}), ClassDNS},
		{"refused", wrap(os.NewSyscallError("connect", syscall.ECONNREFUSED)), ClassRefused},
		{"unreachable", wrap(os.NewSyscallError("connect", syscall.EHOSTUNREACH)), ClassRefused},
		{"connect timed out", wrap(os.NewSyscallError("connect", syscall.ETIMEDOUT)), ClassTimeout},
		{"reset", wrap(os.NewSyscallError("read", syscall.ECONNRESET)), ClassReset},
		{"broken pipe", wrap(os.NewSyscallError("write", syscall.EPIPE)), ClassReset},
		{"eof", fmt.Errorf("read response: %w", io.EOF), ClassReset},
		{"unexpected eof", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), ClassReset},
		{"unknown", fmt.Errorf("malformed HTTP response"), ClassReset},
		{"record header", wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), ClassTLS},
		{"unknown authority", wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), ClassTLS},
		{"bare hostname error", wrap(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "example.com"}), ClassTLS},
		{"expired", wrap(x509.CertificateInvalidError{Reason: x509.Expired}), ClassTLS},
		{"alert", wrap(tls.AlertError(40)), ClassTLS},
		{"handshake remote alert", &handshakeError{err: &net.OpError{Op: "remote error", Err: tls.AlertError(40)}}, ClassTLS},
		{"handshake reset", &handshakeError{err: os.NewSyscallError("read", syscall.ECONNRESET)}, ClassTLS},
		{"handshake untyped", &handshakeError{err: fmt.Errorf("tls: server selected unsupported protocol version 301")}, ClassTLS},
	}
	for _, tt := range tests {
		class, msg := classify(tt.err)
		if class != tt.want {
			t.Errorf("%s: class = %q, want %q (message %q)", tt.name, class, tt.want, msg)
		}
		if msg == "" {
			t.Errorf("%s: empty message", tt.name)
		}
		// Messages reach customers: never Herald's own addresses.
		for _, internal := range []string{"10.9.8.7", "10.0.0.2"} {
			if strings.Contains(msg, internal) {
				t.Errorf("%s: message %q leaks %s", tt.name, msg, internal)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 120 * time.Second},
		{" 30 ", 30 * time.Second},
		{"86400", 24 * time.Hour},
		{"99999999999999999999999", math.MaxInt64},
		{"9223372036854775807", math.MaxInt64},
		{"-5", 0},
		{"+5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"Fri, 08 May 2026 10:20:00 GMT", 5 * time.Minute},              // IMF-fixdate
		{"Friday, 08-May-26 11:15:00 GMT", time.Hour},                   // RFC 850
		{"Fri May  8 10:15:30 2026", 30 * time.Second},                  // asctime
		{"Fri, 08 May 2026 10:00:00 GMT", 0},                            // in the past
		{"Fri, 08 May 2026 10:15:00 GMT", 0},                            // now
		{"Fri, 08 May 2026 10:20:00 +0000", 0},                          // not an HTTP date
		{"Sat, 09 May 2026 10:15:00 GMT", 24 * time.Hour},               // a day
		{"Fri, 08 May 2026 10:15:01 GMT", time.Second},                  // a second
		{"Fri, 08 May 2026 10:15:00 GMT trailing", 0},                   // malformed
		{"Fri, 08 May 2026 10:15:00 GMT, Fri, 08 May 2026 10:15:00", 0}, // two values
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// countingReader is an endless body that counts what was read from it.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte('a' + (r.n+int64(i))%26)
	}
	r.n += int64(len(p))
	return len(p), nil
}

func (r *countingReader) Close() error { return nil }

func TestReadBody(t *testing.T) {
	t.Parallel()
	c := &Client{maxResponse: 1000, storedBody: 100}
	tests := []struct {
		name string
		body string
		want string
	}{
		{"empty", "", ""},
		{"short", "ok", "ok"},
		{"exactly stored", strings.Repeat("s", 100), strings.Repeat("s", 100)},
		{"past stored", strings.Repeat("s", 100) + "rest", strings.Repeat("s", 100)},
		{"past max", strings.Repeat("s", 5000), strings.Repeat("s", 100)},
	}
	for _, tt := range tests {
		got, err := c.readBody(io.NopCloser(strings.NewReader(tt.body)))
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: readBody = %q, %v, want %q, nil", tt.name, got, err, tt.want)
		}
	}

	endless := &countingReader{}
	got, err := c.readBody(endless)
	if err != nil {
		t.Fatal(err)
	}
	if endless.n != c.maxResponse {
		t.Errorf("read %d bytes of an endless body, want %d", endless.n, c.maxResponse)
	}
	if want := []byte("abcdefghijklmnopqrstuvwxyz"); !bytes.HasPrefix(got, want) || len(got) != c.storedBody {
		t.Errorf("stored %d bytes starting %q, want %d starting %q", len(got), got[:min(len(got), 26)], c.storedBody, want)
	}
}
