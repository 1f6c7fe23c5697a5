package server

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// walk follows nextCursor through every page of path with limit, and
// returns the ids in order with the size of each page.
func walk(t testing.TB, e *env, key, path string, limit int) (ids []string, sizes []int) {
	t.Helper()
	cursor := ""
	for range 100 {
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		sep := "?"
		if u, _ := url.Parse(path); u.RawQuery != "" {
			sep = "&"
		}
		var l listJ[map[string]any]
		e.must(t, http.StatusOK, req{method: "GET", path: path + sep + q.Encode(), key: key}, &l)
		if l.Data == nil {
			t.Fatalf("GET %s: data is null, want a list", path)
		}
		sizes = append(sizes, len(l.Data))
		for _, it := range l.Data {
			id, _ := it["id"].(string)
			if id == "" {
				id, _ = it["name"].(string)
			}
			ids = append(ids, id)
		}
		if l.NextCursor == nil {
			return ids, sizes
		}
		cursor = *l.NextCursor
	}
	t.Fatalf("GET %s: more than 100 pages", path)
	return nil, nil
}

func TestPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	other := e.tenant(t, "globex")
	var eps, evs []string
	for i := range 7 {
		eps = append(eps, e.endpoint(t, key, map[string]any{"url": "https://example.com/" + fmt.Sprint(i), "events": []string{"*"}}))
		e.endpoint(t, other, map[string]any{"url": "https://example.com/other", "events": []string{"*"}})
		e.clock.Add(time.Second)
		evs = append([]string{e.event(t, key, map[string]any{"type": "a.b", "data": map[string]any{}}).ID}, evs...) // newest first
		e.event(t, other, map[string]any{"type": "a.b", "data": map[string]any{}})
	}

	ids, sizes := walk(t, e, key, "/v1/webhook-endpoints", 3)
	if diff := cmp.Diff(eps, ids); diff != "" {
		t.Errorf("endpoint pages mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3, 3, 1}, sizes); diff != "" {
		t.Errorf("endpoint page sizes mismatch (-want +got):\n%s", diff)
	}
	ids, _ = walk(t, e, key, "/v1/events", 2)
	if diff := cmp.Diff(evs, ids); diff != "" {
		t.Errorf("event pages mismatch (-want +got):\n%s", diff)
	}
	ids, _ = walk(t, e, e.admin, "/v1/events?tenantId=acme", 250)
	if diff := cmp.Diff(evs, ids); diff != "" {
		t.Errorf("admin event list of acme mismatch (-want +got):\n%s", diff)
	}
	ids, sizes = walk(t, e, e.admin, "/v1/tenants", 1)
	if diff := cmp.Diff([]string{"acme", "globex", "herald"}, ids); diff != "" || len(sizes) != 3 {
		t.Errorf("tenant pages %v mismatch (-want +got):\n%s", sizes, diff)
	}
	// The default limit is 50.
	var l listJ[map[string]any]
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/webhook-endpoints", key: e.admin}, &l)
	if len(l.Data) != 14 || l.NextCursor != nil {
		t.Errorf("default page: %d endpoints, next %v; want all 14", len(l.Data), l.NextCursor)
	}
}

// TestEventTimeFilters: since is inclusive, until exclusive.
func TestEventTimeFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	t0 := e.clock.Now()
	var evs []string
	for range 3 {
		evs = append(evs, e.event(t, key, map[string]any{"type": "a.b", "data": map[string]any{}}).ID)
		e.clock.Add(time.Minute)
	}
	cd := e.event(t, key, map[string]any{"type": "c.d", "data": map[string]any{}}).ID
	at := func(d time.Duration) string { return url.QueryEscape(t0.Add(d).Format(time.RFC3339)) }
	tests := []struct {
		query string
		want  []string
	}{
		{"since=" + at(time.Minute), []string{cd, evs[2], evs[1]}},
		{"until=" + at(time.Minute), []string{evs[0]}},
		{"since=" + at(time.Minute) + "&until=" + at(2*time.Minute), []string{evs[1]}},
		{"since=" + at(0) + "&type=a.b", []string{evs[2], evs[1], evs[0]}},
		{"since=" + at(time.Hour), nil},
	}
	for _, tt := range tests {
		got, _ := walk(t, e, key, "/v1/events?"+tt.query, 50)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("GET /v1/events?%s mismatch (-want +got):\n%s", tt.query, diff)
		}
	}
}
