package sender

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// received is what a test server saw of one request.
type received struct {
	method string
	header http.Header
	body   string
}

// recorder returns a handler that records each request and answers with
// status, header and body, and the channel it records to.
func recorder(status int, header http.Header, body string) (http.HandlerFunc, <-chan received) {
	ch := make(chan received, 16)
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- received{method: r.Method, header: r.Header.Clone(), body: string(b)}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}, ch
}

func TestSendOK(t *testing.T) {
	t.Parallel()
	h, got := recorder(http.StatusOK, http.Header{"X-Receiver": {"yes"}}, `{"ok":true}`)
	srv := serve(t, h)
	c := newClient(t, Config{Allow: allowLoopback4, UserAgent: "Herald/1.2.3"})

	sent := http.Header{"Webhook-Id": {"evt_1"}}
	res := c.Send(t.Context(), Request{URL: srv.URL + "/hook", Header: sent, Body: []byte(`{"id":"evt_1"}`)})
	wantClass(t, res, "")
	if !res.Success() || res.StatusCode != 200 || string(res.Body) != `{"ok":true}` || res.Header.Get("X-Receiver") != "yes" {
		t.Errorf("Send = %d %q (header %v), Success %v; want 200 {\"ok\":true}", res.StatusCode, res.Body, res.Header, res.Success())
	}
	if res.Message != "" || res.Location != "" || res.RetryAfter != 0 || res.Duration <= 0 {
		t.Errorf("Message %q, Location %q, RetryAfter %v, Duration %v", res.Message, res.Location, res.RetryAfter, res.Duration)
	}

	r := <-got
	if r.method != http.MethodPost || r.body != `{"id":"evt_1"}` {
		t.Errorf("server got %s %q, want POST with the body", r.method, r.body)
	}
	for k, want := range map[string]string{
		"User-Agent":      "Herald/1.2.3",
		"Content-Type":    "application/json",
		"Webhook-Id":      "evt_1",
		"Accept-Encoding": "", // no transparent gzip
	} {
		if v := r.header.Get(k); v != want {
			t.Errorf("server got %s %q, want %q", k, v, want)
		}
		if v := res.RequestHeader.Get(k); v != want {
			t.Errorf("RequestHeader %s = %q, want %q", k, v, want)
		}
	}
	if len(sent) != 1 {
		t.Errorf("Send changed the caller's header: %v", sent)
	}
}

func TestSendCallerHeadersFirst(t *testing.T) {
	t.Parallel()
	h, got := recorder(http.StatusNoContent, nil, "")
	srv := serve(t, h)
	c := newClient(t, Config{Allow: allowLoopback4})
	res := c.Send(t.Context(), Request{URL: srv.URL, Header: http.Header{
		"User-Agent":   {"custom/1"},
		"Content-Type": {"application/cloudevents+json"},
	}})
	wantClass(t, res, "")
	r := <-got
	if ua, ct := r.header.Get("User-Agent"), r.header.Get("Content-Type"); ua != "custom/1" || ct != "application/cloudevents+json" {
		t.Errorf("server got User-Agent %q, Content-Type %q; want the caller's", ua, ct)
	}
	if ua := res.RequestHeader.Get("User-Agent"); ua != "custom/1" {
		t.Errorf("RequestHeader User-Agent = %q, want custom/1", ua)
	}

	// Without them, the defaults.
	res = c.Send(t.Context(), Request{URL: srv.URL})
	wantClass(t, res, "")
	r = <-got
	if ua := r.header.Get("User-Agent"); ua != DefaultUserAgent {
		t.Errorf("server got User-Agent %q, want %q", ua, DefaultUserAgent)
	}
}

func TestSendHTTPStatus(t *testing.T) {
	t.Parallel()
	h, _ := recorder(http.StatusInternalServerError, nil, "database down")
	srv := serve(t, h)
	c := newClient(t, Config{Allow: allowLoopback4})
	res := c.Send(t.Context(), Request{URL: srv.URL})
	wantClass(t, res, ClassHTTPStatus)
	if res.StatusCode != 500 || string(res.Body) != "database down" {
		t.Errorf("got %d %q, want 500 %q", res.StatusCode, res.Body, "database down")
	}
	if want := "the endpoint answered HTTP 500 Internal Server Error"; res.Message != want {
		t.Errorf("Message = %q, want %q", res.Message, want)
	}
}

func TestSendRedirect(t *testing.T) {
	t.Parallel()
	target := newTrap(t, "tcp", "127.0.0.1:0")
	c := newClient(t, Config{Allow: allowLoopback4})
	for _, code := range []int{301, 302, 303, 307, 308} {
		location := target.url + "/elsewhere?code=" + strconv.Itoa(code)
		h, _ := recorder(code, http.Header{"Location": {location}}, "moved")
		srv := serve(t, h)
		res := c.Send(t.Context(), Request{URL: srv.URL, Timeout: trapTimeout})
		wantClass(t, res, ClassRedirect)
		if res.StatusCode != code || res.Location != location {
			t.Errorf("got %d Location %q, want %d %q", res.StatusCode, res.Location, code, location)
		}
	}
	target.check(t)
}

func TestSendRetryAfter(t *testing.T) {
	t.Parallel()
	c := newClient(t, Config{Allow: allowLoopback4})

	h, _ := recorder(http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}}, "")
	res := c.Send(t.Context(), Request{URL: serve(t, h).URL})
	wantClass(t, res, ClassHTTPStatus)
	if res.StatusCode != 429 || res.RetryAfter != 120*time.Second {
		t.Errorf("got %d RetryAfter %v, want 429 2m0s", res.StatusCode, res.RetryAfter)
	}

	// An HTTP date has whole seconds and is judged against the clock when the
	// response arrives, so allow for both (parseRetryAfter's test is exact).
	date := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	h, _ = recorder(http.StatusServiceUnavailable, http.Header{"Retry-After": {date}}, "")
	res = c.Send(t.Context(), Request{URL: serve(t, h).URL})
	wantClass(t, res, ClassHTTPStatus)
	if res.RetryAfter <= 58*time.Minute || res.RetryAfter > time.Hour {
		t.Errorf("Retry-After %s: RetryAfter = %v, want about 1h", date, res.RetryAfter)
	}
}

// TestSendReusesConnection sends twice in sequence and counts the
// connections the server accepted.
func TestSendReusesConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	h, _ := recorder(http.StatusOK, nil, "ok")
	srv := newUnstartedServer(t, h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	c := newClient(t, Config{Allow: allowLoopback4})
	for range 3 {
		wantClass(t, c.Send(t.Context(), Request{URL: srv.URL, Body: []byte("{}")}), "")
	}
	// A response is read to its end before Send returns, which puts the
	// connection back in the pool first, so this count is exact.
	if n := conns.Load(); n != 1 {
		t.Errorf("three sequential sends used %d connections, want 1", n)
	}
}

func TestSendInvalidURL(t *testing.T) {
	t.Parallel()
	c := newClient(t, Config{})
	for _, u := range []string{"", "example.com/hook", "ftp://example.com/", "http:///path", "http://[::1", "file:///etc/passwd"} {
		res := c.Send(t.Context(), Request{URL: u})
		if res.Class != ClassBlocked {
			t.Errorf("Send(%q): Class = %q (%s), want %q", u, res.Class, res.Message, ClassBlocked)
		}
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"metadata v4":      {Allow: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}},
		"metadata v6":      {Allow: []netip.Prefix{netip.MustParsePrefix("fd00:ec2::254/128")}},
		"link-local v6":    {Allow: []netip.Prefix{netip.MustParsePrefix("fe80::/64")}},
		"everything":       {Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
		"negative max":     {MaxResponse: -1},
		"stored over max":  {MaxResponse: 100, StoredBody: 101},
		"negative stored":  {StoredBody: -1},
		"negative timeout": {DefaultTimeout: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
	for _, cfg := range []Config{{}, {MaxResponse: 1000}, {Allow: allowLoopback4}} {
		if _, err := New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

// TestSendConcurrent runs sends in parallel to one server, for the race
// detector.
func TestSendConcurrent(t *testing.T) {
	t.Parallel()
	h, _ := recorder(http.StatusOK, nil, "ok")
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		h(w, r)
	})
	c := newClient(t, Config{Allow: allowLoopback4})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res := c.Send(t.Context(), Request{URL: srv.URL}); !res.Success() {
				t.Errorf("Send: %q %s", res.Class, res.Message)
			}
		})
	}
	wg.Wait()
}
