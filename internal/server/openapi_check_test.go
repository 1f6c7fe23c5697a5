package server

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/apispec"
)

var (
	specOnce    sync.Once
	specChecker *apispec.Checker
	specErr     error
)

// specTransport wraps base so that every exchange with a documented route
// is checked against openapi.json; a mismatch fails the test. Requests to
// routes the document does not describe (health, metrics, unknown paths)
// pass unchecked.
func specTransport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	specOnce.Do(func() { specChecker, specErr = apispec.New(OpenAPI) })
	if specErr != nil {
		t.Fatal(specErr)
	}
	return &apispec.Transport{Checker: specChecker, Base: base, T: t, Skip: func(r *http.Request) bool {
		return !documented(r)
	}}
}

// documented reports whether r is for a route of the table under /v1.
func documented(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		return false
	}
	mux := http.NewServeMux()
	for _, rt := range routeTable(DefaultMaxPayload) {
		mux.Handle(rt.method+" "+rt.pattern, http.NotFoundHandler())
	}
	_, pattern := mux.Handler(r)
	return pattern != ""
}
