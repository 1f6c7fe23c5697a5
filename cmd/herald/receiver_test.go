package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// receiver is a webhook consumer on 127.0.0.1 for the delivery tests. Each
// endpoint is one path of it (/a, /b, …), trusted with that endpoint's
// secret once the test tells it with trust. It verifies every request with
// the public webhook package and records what arrived.
type receiver struct {
	url string

	// answer returns the status for the n-th request (from 1) of the same
	// webhook-id at path; nil answers 200.
	answer func(path string, n int) int
	// hold, when set, is how long each request is held before the answer,
	// so that overlapping attempts of one delivery would be seen.
	hold time.Duration

	mu      sync.Mutex
	secrets map[string]string     // path → secret
	got     map[receipt]int       // requests per (path, webhook-id)
	first   map[receipt]time.Time // when each first arrived
	total   int
	badSigs int
	busy    map[receipt]int // requests being answered now
	overlap int             // requests that arrived while another of the same delivery was being answered
	lastBad error
	changed chan struct{} // closed and replaced on every request
}

// receipt names one delivery as the receiver sees it.
type receipt struct{ path, id string }

func newReceiver(t testing.TB, answer func(path string, n int) int) *receiver {
	t.Helper()
	rc := &receiver{
		answer:  answer,
		secrets: map[string]string{},
		got:     map[receipt]int{},
		first:   map[receipt]time.Time{},
		busy:    map[receipt]int{},
		changed: make(chan struct{}),
	}
	srv := httptest.NewServer(http.HandlerFunc(rc.serveHTTP)) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

// trust makes the receiver verify requests to path with secret.
func (rc *receiver) trust(path, secret string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets[path] = secret
}

func (rc *receiver) serveHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	secret, ok := rc.secrets[r.URL.Path]
	if !ok {
		rc.mu.Unlock()
		http.Error(w, "unknown endpoint", http.StatusNotFound)
		return
	}
	if err := webhook.Verify(r.Header, body, []string{secret}); err != nil {
		rc.badSigs++
		rc.lastBad = err
		rc.signal()
		rc.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	k := receipt{r.URL.Path, r.Header.Get(webhook.HeaderID)}
	rc.got[k]++
	n := rc.got[k]
	if n == 1 {
		rc.first[k] = now
	}
	rc.total++
	if rc.busy[k]++; rc.busy[k] > 1 {
		rc.overlap++
	}
	rc.signal()
	rc.mu.Unlock()
	defer func() {
		rc.mu.Lock()
		rc.busy[k]--
		rc.mu.Unlock()
	}()

	if rc.hold > 0 {
		time.Sleep(rc.hold)
	}
	code := http.StatusOK
	if rc.answer != nil {
		code = rc.answer(k.path, n)
	}
	w.WriteHeader(code)
}

// missing counts the deliveries of the events ids to paths that have not
// arrived; rc.mu is held.
func (rc *receiver) missing(ids, paths []string) int {
	n := 0
	for _, id := range ids {
		for _, path := range paths {
			if rc.got[receipt{path, id}] == 0 {
				n++
			}
		}
	}
	return n
}

// duplicates counts the requests beyond the first of each delivery, and
// the most requests one delivery got; rc.mu is held.
func (rc *receiver) duplicates() (dups, most int) {
	for _, n := range rc.got {
		dups += n - 1
		most = max(most, n)
	}
	return dups, most
}

// signal wakes the waiters; rc.mu is held.
func (rc *receiver) signal() {
	close(rc.changed)
	rc.changed = make(chan struct{})
}

// count returns how many requests arrived for the webhook-id at path.
func (rc *receiver) count(path, id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.got[receipt{path, id}]
}

// waitUntil waits until done (called with rc.mu held) is true, for at most
// d, and reports whether it became true.
func (rc *receiver) waitUntil(d time.Duration, done func() bool) bool {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		rc.mu.Lock()
		ok := done()
		changed := rc.changed
		rc.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-timeout.C:
			return false
		}
	}
}

// eventually polls cond until it is true, for at most d: for state that
// only the API shows, such as a delivery's status once the attempt is
// recorded.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(d)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}
