package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// authenticate finds the API key of the request's "Authorization: Bearer"
// header. The store looks the key up by its hash; the hashes are then
// compared in constant time as well, so that a store whose index compares
// bytes early-out cannot become a timing oracle.
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
	case subtle.ConstantTimeCompare(key.Hash, hash) != 1:
		return hook.APIKey{}, unauthorized("the API key is not valid")
	}
	s.touches.touch(r.Context(), s, key)
	return key, nil
}

// touchEvery is how often a key's LastUsedAt is written at most. The time is
// for people ("used today", "unused for a year"); writing it on every request
// would turn every read of the API into a write.
const touchEvery = time.Minute

// touches remembers when this process last wrote each key's LastUsedAt, so
// that concurrent requests with one key write it once, not once each.
type touches struct {
	mu   sync.Mutex
	last map[string]time.Time // key id → time written
}

// maxTouches bounds the memory of touches; past it, entries older than
// touchEvery (which no longer hold anything back) are dropped.
const maxTouches = 10000

// touch records that key was used now, unless it was recorded less than
// touchEvery ago, by this process or (per the stored time) by another. A
// failed write is logged, not returned: the request itself is fine.
func (t *touches) touch(ctx context.Context, s *Server, key hook.APIKey) {
	now := s.now()
	if now.Sub(key.LastUsedAt) < touchEvery {
		return
	}
	t.mu.Lock()
	if last, ok := t.last[key.ID]; ok && now.Sub(last) < touchEvery {
		t.mu.Unlock()
		return
	}
	if len(t.last) >= maxTouches {
		for id, at := range t.last {
			if now.Sub(at) >= touchEvery {
				delete(t.last, id)
			}
		}
	}
	t.last[key.ID] = now
	t.mu.Unlock()
	if err := s.store.TouchAPIKey(ctx, key.ID, now); err != nil && !errors.Is(err, hook.ErrNotFound) {
		s.log.WarnContext(ctx, "record api key use", "key", key.ID, "err", err)
	}
}
