package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// authenticate finds the API key of the request's "Authorization: Bearer"
// header. The store looks the key up by the token's SHA-256 hash and
// compares the hashes in constant time.
func (s *Server) authenticate(r *http.Request) (hook.APIKey, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return hook.APIKey{}, unauthorized("the request has no Authorization header; send Authorization: Bearer <API key>")
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return hook.APIKey{}, unauthorized("the Authorization header must be Bearer <API key>")
	}
	hash := hook.HashToken(token)
	key, err := s.store.APIKeyByHash(r.Context(), hash)
	switch {
	case errors.Is(err, hook.ErrNotFound):
		return hook.APIKey{}, unauthorized("the API key is not valid")
	case err != nil:
		return hook.APIKey{}, fmt.Errorf("look up api key: %w", err)
	}
	s.touch(r.Context(), key)
	return key, nil
}

// touchEvery is how often a key's LastUsedAt is written at most. The time is
// for people ("used today", "unused for a year"); writing it on every request
// would turn every read of the API into a write.
const touchEvery = time.Minute

// touch records that key was used now, unless the stored time is less than
// touchEvery old. A failed write is logged, not returned: the request itself
// is fine.
func (s *Server) touch(ctx context.Context, key hook.APIKey) {
	now := s.now()
	if now.Sub(key.LastUsedAt) < touchEvery {
		return
	}
	if err := s.store.TouchAPIKey(ctx, key.ID, now); err != nil && !errors.Is(err, hook.ErrNotFound) {
		s.log.WarnContext(ctx, "record api key use", "key", key.ID, "err", err)
	}
}
