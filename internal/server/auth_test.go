package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// TestLastUsedAt: a key's use is recorded at most once a minute.
func TestLastUsedAt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	lastUsed := func() time.Time {
		t.Helper()
		k, err := e.store.APIKeyByHash(context.Background(), hook.HashToken(key))
		if err != nil {
			t.Fatal(err)
		}
		return k.LastUsedAt
	}
	if got := lastUsed(); !got.IsZero() {
		t.Fatalf("lastUsedAt before use = %v, want zero", got)
	}
	use := func() { e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events", key: key}, nil) }

	t0 := e.clock.Now()
	use()
	if got := lastUsed(); !got.Equal(t0) {
		t.Errorf("lastUsedAt after first use = %v, want %v", got, t0)
	}
	e.clock.Add(59 * time.Second)
	use()
	use()
	if got := lastUsed(); !got.Equal(t0) {
		t.Errorf("lastUsedAt 59s later = %v, want it unchanged at %v", got, t0)
	}
	e.clock.Add(time.Second)
	use()
	if got, want := lastUsed(), t0.Add(time.Minute); !got.Equal(want) {
		t.Errorf("lastUsedAt a minute later = %v, want %v", got, want)
	}
}

// TestAuthSchemes: the scheme name is case-insensitive; the token is not.
func TestAuthSchemes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, h := range []string{"Bearer " + e.admin, "bearer " + e.admin, "BEARER  " + e.admin} {
		e.must(t, http.StatusOK, req{method: "GET", path: "/v1/tenants", header: map[string]string{"Authorization": h}}, nil)
	}
	for _, h := range []string{"Bearer " + e.admin + "x", "Token " + e.admin, e.admin} {
		e.must(t, http.StatusUnauthorized, req{method: "GET", path: "/v1/tenants", header: map[string]string{"Authorization": h}}, nil)
	}
}
