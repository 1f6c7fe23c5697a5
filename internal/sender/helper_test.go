package sender

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// allowLoopback4 opts tests in to their servers on 127.0.0.1, exactly.
var allowLoopback4 = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// newClient returns a Client for cfg or fails the test.
func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// serve starts a test server on 127.0.0.1 that answers with h.
func serve(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// release returns a channel that closes when the test ends, before the
// test's servers close, so handlers that block on it let the servers stop.
func release(t testing.TB) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return done
}

// trap is a listener that must receive no connection. It never accepts;
// check proves the backlog empty.
type trap struct {
	net.Listener
	url string
}

func newTrap(t testing.TB, network, address string) *trap {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return &trap{Listener: ln, url: "http://" + ln.Addr().String()}
}

// port returns the trap's port as a string.
func (tr *trap) port() string {
	_, p, _ := net.SplitHostPort(tr.Addr().String())
	return p
}

// check fails the test if any connection reached the trap. It connects a
// sentinel of its own and accepts once: a connection made earlier by the
// code under test would be queued ahead of the sentinel, so the first
// accepted connection is the sentinel only if there was none. This waits for
// an event, not for a duration.
func (tr *trap) check(t testing.TB) {
	t.Helper()
	sentinel, err := net.Dial(tr.Addr().Network(), tr.Addr().String())
	if err != nil {
		t.Fatalf("dial sentinel: %v", err)
	}
	defer sentinel.Close()
	got, err := tr.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	defer got.Close()
	if got.RemoteAddr().String() != sentinel.LocalAddr().String() {
		t.Errorf("the trap at %v received a connection from %v", tr.Addr(), got.RemoteAddr())
	}
}

// wantClass fails the test unless res failed with class want.
func wantClass(t testing.TB, res Result, want ErrorClass) {
	t.Helper()
	if res.Class != want {
		t.Fatalf("Class = %q (%s), want %q", res.Class, res.Message, want)
	}
	if want != "" && (res.Success() || res.Message == "") {
		t.Errorf("failed with class %q but Success() = %v, Message = %q", want, res.Success(), res.Message)
	}
}

// newUnstartedServer is serve for a server the test configures first.
func newUnstartedServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	t.Cleanup(srv.Close)
	return srv
}
