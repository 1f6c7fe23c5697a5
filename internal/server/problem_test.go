package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald/internal/hook"
)

// TestUnavailableProblem: a store that cannot reach its database answers
// 503 with Retry-After, never a 2xx or a bare 500.
func TestUnavailableProblem(t *testing.T) {
	t.Parallel()
	s := &Server{log: slog.New(slog.DiscardHandler)}
	w := httptest.NewRecorder()
	s.writeProblem(w, httptest.NewRequest("POST", "/v1/events", nil), fmt.Errorf("ingest: %w", hook.ErrUnavailable))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Errorf("got %d with Retry-After %q; want 503 with Retry-After 1", w.Code, w.Header().Get("Retry-After"))
	}
	if ct := w.Header().Get("Content-Type"); ct != problemContentType {
		t.Errorf("Content-Type = %q", ct)
	}
}
