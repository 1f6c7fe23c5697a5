package sender

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// A short attempt deadline keeps the timeout tests fast; nothing asserts on
// how long they took.
const shortTimeout = 100 * time.Millisecond

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	done := release(t)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	c := newClient(t, Config{Allow: allowLoopback4})
	res := c.Send(t.Context(), Request{URL: srv.URL, Timeout: shortTimeout})
	wantClass(t, res, ClassTimeout)
	if res.StatusCode != 0 {
		t.Errorf("StatusCode = %d, want 0", res.StatusCode)
	}
	if want := "no complete response within 100ms"; res.Message != want {
		t.Errorf("Message = %q, want %q", res.Message, want)
	}
}

// TestSendDefaultTimeout checks that Config.DefaultTimeout applies when the
// request has none.
func TestSendDefaultTimeout(t *testing.T) {
	t.Parallel()
	done := release(t)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	c := newClient(t, Config{Allow: allowLoopback4, DefaultTimeout: shortTimeout})
	wantClass(t, c.Send(t.Context(), Request{URL: srv.URL}), ClassTimeout)
}

// TestSendTrickle: the status arrives at once but the body never completes,
// so the deadline, which covers the body, fails the attempt.
func TestSendTrickle(t *testing.T) {
	t.Parallel()
	done := release(t)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for range 100_000 {
			if _, err := io.WriteString(w, "."); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			case <-done:
				return
			}
		}
	})
	c := newClient(t, Config{Allow: allowLoopback4})
	res := c.Send(t.Context(), Request{URL: srv.URL, Timeout: shortTimeout})
	wantClass(t, res, ClassTimeout)
	if res.StatusCode != http.StatusOK || len(res.Body) == 0 || strings.Trim(string(res.Body), ".") != "" {
		t.Errorf("got %d %q, want 200 and the dots read so far", res.StatusCode, res.Body)
	}
}

// TestSendEndlessBody: the endpoint writes without end; Herald reads the
// default 64 KiB, keeps 16 KiB and closes, so the endpoint's writes fail.
func TestSendEndlessBody(t *testing.T) {
	t.Parallel()
	const limit = 256 << 20 // if Herald never stopped reading
	type outcome struct {
		written int64
		err     error
	}
	ended := make(chan outcome, 1)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 4<<10)
		var o outcome
		for o.written < limit {
			var n int
			n, o.err = w.Write(chunk)
			o.written += int64(n)
			if o.err != nil {
				break
			}
		}
		ended <- o
	})
	c := newClient(t, Config{Allow: allowLoopback4})
	res := c.Send(t.Context(), Request{URL: srv.URL, Timeout: time.Minute})
	wantClass(t, res, "")
	if !bytes.Equal(res.Body, bytes.Repeat([]byte("x"), DefaultStoredBody)) {
		t.Errorf("stored %d bytes, want %d", len(res.Body), DefaultStoredBody)
	}
	o := <-ended
	if o.err == nil || o.written >= limit {
		t.Errorf("the endpoint wrote %d bytes (error %v); want its writes to fail once Herald closed", o.written, o.err)
	}
	t.Logf("the endpoint wrote %d bytes before its writes failed: %v", o.written, o.err)
}

// TestSendReset: the endpoint aborts the connection (RST) instead of
// answering.
func TestSendReset(t *testing.T) {
	t.Parallel()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	})
	c := newClient(t, Config{Allow: allowLoopback4})
	res := c.Send(t.Context(), Request{URL: srv.URL})
	wantClass(t, res, ClassReset)
	t.Logf("message: %s", res.Message)
}

func TestSendRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, Config{Allow: allowLoopback4})
	res := c.Send(t.Context(), Request{URL: "http://" + addr + "/hook"})
	wantClass(t, res, ClassRefused)
}

// TestSendDNS uses a name that is not a valid domain name (an empty label),
// which the resolver rejects as not found without asking a server, so the
// test needs no network.
func TestSendDNS(t *testing.T) {
	t.Parallel()
	c := newClient(t, Config{})
	res := c.Send(t.Context(), Request{URL: "http://herald..invalid/hook"})
	wantClass(t, res, ClassDNS)
	t.Logf("message: %s", res.Message)
}

// TestSendInterrupted: the caller's context ends mid-attempt (shutdown),
// which is not the endpoint's fault and not a timeout.
func TestSendInterrupted(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	var once sync.Once
	done := release(t)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	c := newClient(t, Config{Allow: allowLoopback4})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	res := c.Send(ctx, Request{URL: srv.URL, Timeout: time.Minute})
	wantClass(t, res, ClassInterrupted)

	// A context that ended before the attempt sends nothing.
	target := newTrap(t, "tcp", "127.0.0.1:0")
	res = c.Send(ctx, Request{URL: target.url})
	wantClass(t, res, ClassInterrupted)
	target.check(t)

	// So does a caller's own deadline: it is not the endpoint's timeout.
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	wantClass(t, c.Send(expired, Request{URL: srv.URL}), ClassInterrupted)
}

// newTLSServer starts an HTTPS test server whose handshake errors are not
// logged (they are what the tests provoke).
func newTLSServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestSendTLS(t *testing.T) {
	t.Parallel()
	h, _ := recorder(http.StatusOK, nil, "ok")
	srv := newTLSServer(t, h)

	// The test server's certificate is self-signed: not trusted.
	c := newClient(t, Config{Allow: allowLoopback4})
	res := c.Send(t.Context(), Request{URL: srv.URL})
	wantClass(t, res, ClassTLS)
	t.Logf("message: %s", res.Message)

	// Trusted, the same server is reached through the policy dialer.
	trusted := newClient(t, Config{Allow: allowLoopback4})
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	trusted.tlsConfig.RootCAs = pool
	wantClass(t, trusted.Send(t.Context(), Request{URL: srv.URL}), "")

	// An endpoint that does not speak TLS on an https URL.
	plain, _ := recorder(http.StatusOK, nil, "ok")
	res = c.Send(t.Context(), Request{URL: strings.Replace(serve(t, plain).URL, "http://", "https://", 1)})
	wantClass(t, res, ClassTLS)
	if want := "the endpoint did not answer with TLS"; res.Message != want {
		t.Errorf("Message = %q, want %q", res.Message, want)
	}
}
