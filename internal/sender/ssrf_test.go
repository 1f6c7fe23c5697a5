package sender

import (
	"net"
	"strings"
	"testing"
	"time"
)

// trapTimeout bounds sends aimed at a trap, which never answers: a
// regression then fails in seconds instead of hanging for the default 15 s.
// A correct client never waits for it.
const trapTimeout = 2 * time.Second

// TestSendBlockedByDefault: with the default configuration every local form
// of a listening address is refused at dial time, and the listener receives
// no connection at all.
func TestSendBlockedByDefault(t *testing.T) {
	t.Parallel()
	v4 := newTrap(t, "tcp", "127.0.0.1:0")
	c := newClient(t, Config{})
	urls := map[string]string{
		"127.0.0.1":        "http://127.0.0.1:" + v4.port() + "/hook",
		"0.0.0.0":          "http://0.0.0.0:" + v4.port() + "/hook",
		"::ffff:127.0.0.1": "http://[::ffff:127.0.0.1]:" + v4.port() + "/hook",
		"localhost":        "http://localhost:" + v4.port() + "/hook",
		"https 127.0.0.1":  "https://127.0.0.1:" + v4.port() + "/hook",
	}
	var v6 *trap
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		v6 = newTrap(t, "tcp", "[::1]:0")
		urls["::1"] = "http://[::1]:" + v6.port() + "/hook"
	} else {
		t.Logf("no IPv6 loopback, [::1] not tested: %v", err)
	}
	for name, u := range urls {
		res := c.Send(t.Context(), Request{URL: u, Body: []byte("{}"), Timeout: trapTimeout})
		if res.Class != ClassBlocked || res.StatusCode != 0 {
			t.Errorf("%s: Class = %q (%s), status %d; want %q", name, res.Class, res.Message, res.StatusCode, ClassBlocked)
		}
		if !strings.Contains(res.Message, "is not allowed") {
			t.Errorf("%s: Message = %q", name, res.Message)
		}
	}
	v4.check(t)
	if v6 != nil {
		v6.check(t)
	}
}

// TestSendAllowExact: allowing 127.0.0.1/32 opens that address and nothing
// near it.
func TestSendAllowExact(t *testing.T) {
	t.Parallel()
	h, _ := recorder(200, nil, "ok")
	srv := serve(t, h)
	c := newClient(t, Config{Allow: allowLoopback4})
	wantClass(t, c.Send(t.Context(), Request{URL: srv.URL}), "")

	v4 := newTrap(t, "tcp", "127.0.0.1:0")
	res := c.Send(t.Context(), Request{URL: "http://127.0.0.2:" + v4.port(), Timeout: trapTimeout})
	wantClass(t, res, ClassBlocked)
	if want := "destination address 127.0.0.2 is not allowed"; res.Message != want {
		t.Errorf("Message = %q, want %q", res.Message, want)
	}
	v4.check(t)

	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		v6 := newTrap(t, "tcp", "[::1]:0")
		wantClass(t, c.Send(t.Context(), Request{URL: "http://[::1]:" + v6.port(), Timeout: trapTimeout}), ClassBlocked)
		v6.check(t)
	}
}

// TestSendIgnoresProxyEnv: a transport that honoured HTTP_PROXY would hand
// the request to the proxy, which resolves the name itself and so dials past
// the policy. The proxy here must receive nothing. The target name is
// invalid (an empty label) so that the direct attempt fails locally, without
// a network, while a proxy would still be handed it; proxy selection skips loopback targets, so a local server would prove
// nothing.
//
// No t.Parallel: t.Setenv forbids it.
func TestSendIgnoresProxyEnv(t *testing.T) {
	proxy := newTrap(t, "tcp", "127.0.0.1:0")
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"} {
		t.Setenv(k, proxy.url)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	c := newClient(t, Config{Allow: allowLoopback4})
	for _, u := range []string{"http://herald..invalid/hook", "https://herald..invalid/hook"} {
		res := c.Send(t.Context(), Request{URL: u, Timeout: trapTimeout})
		wantClass(t, res, ClassDNS)
	}
	proxy.check(t)
}
