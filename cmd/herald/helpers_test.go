package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer collects what a server writes and lets a test wait for a line.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{changed: make(chan struct{})} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// wait returns the first submatch of re once the output matches it.
func (b *logBuffer) wait(t testing.TB, re *regexp.Regexp, done <-chan int) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		b.mu.Lock()
		m := re.FindStringSubmatch(b.buf.String())
		changed := b.changed
		b.mu.Unlock()
		if m != nil {
			return m[1]
		}
		select {
		case <-changed:
		case code := <-done:
			t.Fatalf("server exited with %d before printing %s:\n%s", code, re, b)
		case <-timeout:
			t.Fatalf("no %s in output after 30s:\n%s", re, b)
		}
	}
}

var (
	listeningRe = regexp.MustCompile(`msg=listening addr=(\S+)`)
	adminKeyRe  = regexp.MustCompile(`\n    (hka_\S+)\n`)
)

// instance is a `herald serve` running in this process.
type instance struct {
	url      string
	adminKey string
	log      *logBuffer
	stop     func() int
}

// startServe runs `herald serve` on port 0 with a database in dir.
func startServe(t testing.TB, dir string, extra ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := newLogBuffer()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database", filepath.Join(dir, "herald.db")}, extra...)
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, func(string) string { return "" }, io.Discard, log) }()
	in := &instance{log: log}
	in.url = "http://" + log.wait(t, listeningRe, done)
	if m := adminKeyRe.FindStringSubmatch(log.String()); m != nil {
		in.adminKey = m[1]
	}
	var once sync.Once
	code := -1
	in.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("server did not stop within 30s")
			}
		})
		return code
	}
	t.Cleanup(func() { in.stop() })
	return in
}

// call sends a JSON request and decodes a JSON answer into out (if not nil),
// returning the status code.
func call(t testing.TB, method, url, key string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode
}

// tryPost posts JSON and returns the status, or the error when the server
// could not be reached (as when it was killed).
func tryPost(url, key string, body any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest("POST", url, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
