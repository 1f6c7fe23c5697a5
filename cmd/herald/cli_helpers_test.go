package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apispec"
	"github.com/heraldhq/herald/internal/server"
)

// cliEnv is a `herald serve` with the CLI pointed at it through a proxy
// that checks every request and answer against the OpenAPI document.
type cliEnv struct {
	srv   *instance
	proxy string // the URL the CLI calls
	env   map[string]string
}

func newCLIEnv(t *testing.T, extra ...string) *cliEnv {
	t.Helper()
	srv := startServe(t, t.TempDir(), append([]string{"--allow-destinations", "127.0.0.1/32", "--poll-interval", "50ms"}, extra...)...)
	target, err := url.Parse(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	chk, err := apispec.New(server.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &apispec.Transport{Checker: chk, T: t},
	})
	t.Cleanup(proxy.Close)
	return &cliEnv{srv: srv, proxy: proxy.URL, env: map[string]string{"HERALD_URL": proxy.URL, "HERALD_KEY": srv.adminKey}}
}

// result is what one run of the CLI did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs `herald args…` with the environment of e plus env ("NAME=value").
func (e *cliEnv) run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	vars := map[string]string{}
	for k, v := range e.env {
		vars[k] = v
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, args, func(k string) string { return vars[k] }, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs the CLI and fails the test unless it exits 0.
func (e *cliEnv) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := e.run(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("herald %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// json runs the CLI with -o json and decodes its output into out.
func (e *cliEnv) json(t *testing.T, out any, args ...string) {
	t.Helper()
	s := e.ok(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(s), out); err != nil {
		t.Fatalf("herald %s: decode %q: %v", strings.Join(args, " "), s, err)
	}
}

// sink is a webhook receiver on 127.0.0.1 that answers with status.
type sink struct {
	url    string
	status atomic.Int32
	hits   atomic.Int32
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.status.Store(200)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.WriteHeader(int(s.status.Load()))
	}))
	t.Cleanup(hs.Close)
	s.url = hs.URL
	return s
}
