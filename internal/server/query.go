package server

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// list is the answer to every list request.
type list[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

// newList converts a page with conv; Data is never null.
func newList[T, U any](p hook.Page[T], conv func(T) U) list[U] {
	l := list[U]{Data: make([]U, 0, len(p.Items))}
	for _, it := range p.Items {
		l.Data = append(l.Data, conv(it))
	}
	if p.Next != "" {
		l.NextCursor = &p.Next
	}
	return l
}

// query reads the query string of a request. Like unknown body fields,
// unknown parameters are refused, so that "?tenant_id=" is an error rather
// than a list of every tenant's objects.
type query struct {
	v  url.Values
	fe fieldErrors
}

// readQuery reads r's query string; names are the parameters the route
// takes besides limit and cursor, which every list takes.
func readQuery(r *http.Request, names ...string) *query {
	q := &query{v: r.URL.Query()}
	known := map[string]bool{"limit": true, "cursor": true}
	for _, n := range names {
		known[n] = true
	}
	for k, vs := range q.v {
		switch {
		case !known[k]:
			q.fe.add(k, "is not a parameter of this request")
		case len(vs) > 1:
			q.fe.add(k, "must be given at most once")
		}
	}
	return q
}

// str returns a parameter, empty when absent.
func (q *query) str(name string) string { return q.v.Get(name) }

// time returns an RFC 3339 time parameter; zero when absent.
func (q *query) time(name string) time.Time {
	s := q.v.Get(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		q.fe.add(name, "must be an RFC 3339 time such as 2026-05-08T10:15:00Z")
	}
	return t
}

// page returns the paging parameters.
func (q *query) page() hook.ListParams {
	p := hook.ListParams{Cursor: q.v.Get("cursor")}
	if s := q.v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > hook.MaxLimit {
			q.fe.add("limit", "must be an integer from 1 to %d", hook.MaxLimit)
		}
		p.Limit = n
	}
	return p
}

// err returns the errors found while reading the query.
func (q *query) err() error { return q.fe.err() }
