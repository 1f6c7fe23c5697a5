package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

func testAPIKeys(t *testing.T, open OpenFunc) {
	t.Run("CreateByHash", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		admin, adminToken := hook.NewAPIKey("", now)
		tenant, tenantToken := hook.NewAPIKey("acme", now)
		tenant.LastUsedAt = hook.Timestamp(now.Add(time.Minute))
		for _, k := range []struct {
			key   hook.APIKey
			token string
		}{{admin, adminToken}, {tenant, tenantToken}} {
			if err := s.CreateAPIKey(t.Context(), k.key); err != nil {
				t.Fatalf("CreateAPIKey: %v", err)
			}
			got, err := s.APIKeyByHash(t.Context(), hook.HashToken(k.token))
			if err != nil {
				t.Fatalf("APIKeyByHash: %v", err)
			}
			diff(t, "APIKeyByHash", got, k.key)
		}
		_, err := s.APIKeyByHash(t.Context(), hook.HashToken("hkt_unknown"))
		wantErr(t, "APIKeyByHash of an unknown token", err, hook.ErrNotFound)
		_, err = s.APIKeyByHash(t.Context(), nil)
		wantErr(t, "APIKeyByHash(nil)", err, hook.ErrNotFound)
	})
	t.Run("Conflict", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		k, _ := hook.NewAPIKey("acme", now)
		if err := s.CreateAPIKey(t.Context(), k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		sameID, _ := hook.NewAPIKey("acme", now)
		sameID.ID = k.ID
		wantErr(t, "CreateAPIKey of a taken id", s.CreateAPIKey(t.Context(), sameID), hook.ErrConflict)
		sameHash, _ := hook.NewAPIKey("acme", now)
		sameHash.Hash = k.Hash
		wantErr(t, "CreateAPIKey of a taken hash", s.CreateAPIKey(t.Context(), sameHash), hook.ErrConflict)
	})
	t.Run("UnknownTenant", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		k, _ := hook.NewAPIKey("nobody", now)
		wantErr(t, "CreateAPIKey for an unknown tenant", s.CreateAPIKey(t.Context(), k), hook.ErrNotFound)
	})
	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createTenant(t, s, "other")
		var want []string
		for range 5 {
			k, _ := hook.NewAPIKey("acme", now)
			if err := s.CreateAPIKey(t.Context(), k); err != nil {
				t.Fatalf("CreateAPIKey: %v", err)
			}
			want = append(want, k.ID) // ids sort by creation
			o, _ := hook.NewAPIKey("other", now)
			if err := s.CreateAPIKey(t.Context(), o); err != nil {
				t.Fatalf("CreateAPIKey: %v", err)
			}
		}
		admin, _ := hook.NewAPIKey("", now)
		if err := s.CreateAPIKey(t.Context(), admin); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		list := func(p hook.ListParams) (hook.Page[hook.APIKey], error) { return s.ListAPIKeys(t.Context(), "acme", p) }
		testPaging(t, want, func(k hook.APIKey) string { return k.ID }, list)
		testBadCursors(t, foreignCursor(t, s), list)
		p, err := s.ListAPIKeys(t.Context(), "nobody", hook.ListParams{})
		if err != nil || len(p.Items) != 0 || p.Next != "" {
			t.Errorf("ListAPIKeys of an unknown tenant = %+v, %v; want an empty page", p, err)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		createTenant(t, s, "other")
		k, token := hook.NewAPIKey("acme", now)
		if err := s.CreateAPIKey(t.Context(), k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		wantErr(t, "DeleteAPIKey by another tenant", s.DeleteAPIKey(t.Context(), "other", k.ID), hook.ErrNotFound)
		if _, err := s.APIKeyByHash(t.Context(), hook.HashToken(token)); err != nil {
			t.Fatalf("APIKeyByHash after another tenant's delete: %v; want the key kept", err)
		}
		if err := s.DeleteAPIKey(t.Context(), "acme", k.ID); err != nil {
			t.Fatalf("DeleteAPIKey: %v", err)
		}
		_, err := s.APIKeyByHash(t.Context(), hook.HashToken(token))
		wantErr(t, "APIKeyByHash after delete", err, hook.ErrNotFound)
		wantErr(t, "DeleteAPIKey twice", s.DeleteAPIKey(t.Context(), "acme", k.ID), hook.ErrNotFound)
	})
	t.Run("Touch", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		k, token := hook.NewAPIKey("", now)
		if err := s.CreateAPIKey(t.Context(), k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		used := now.Add(90 * time.Second)
		if err := s.TouchAPIKey(t.Context(), k.ID, used); err != nil {
			t.Fatalf("TouchAPIKey: %v", err)
		}
		got, err := s.APIKeyByHash(t.Context(), hook.HashToken(token))
		if err != nil {
			t.Fatalf("APIKeyByHash: %v", err)
		}
		want := k
		want.LastUsedAt = hook.Timestamp(used)
		diff(t, "touched key", got, want)
		wantErr(t, "TouchAPIKey of an unknown key", s.TouchAPIKey(t.Context(), "key_nobody", used), hook.ErrNotFound)
	})
	t.Run("FirstAdminKey", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		createTenant(t, s, "acme")
		tk, _ := hook.NewAPIKey("acme", now) // tenant keys do not count
		if err := s.CreateAPIKey(t.Context(), tk); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		first, firstToken := hook.NewAPIKey("", now)
		created, err := s.CreateFirstAdminKey(t.Context(), first)
		if err != nil || !created {
			t.Fatalf("CreateFirstAdminKey on a store without admin keys = %v, %v; want true", created, err)
		}
		second, secondToken := hook.NewAPIKey("", now)
		created, err = s.CreateFirstAdminKey(t.Context(), second)
		if err != nil || created {
			t.Fatalf("CreateFirstAdminKey again = %v, %v; want false", created, err)
		}
		if _, err := s.APIKeyByHash(t.Context(), hook.HashToken(firstToken)); err != nil {
			t.Errorf("first admin key: %v", err)
		}
		_, err = s.APIKeyByHash(t.Context(), hook.HashToken(secondToken))
		wantErr(t, "second admin key", err, hook.ErrNotFound)
	})
	t.Run("FirstAdminKeyAfterCreateAPIKey", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		given, _ := hook.NewAPIKey("", now)
		if err := s.CreateAPIKey(t.Context(), given); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		k, _ := hook.NewAPIKey("", now)
		created, err := s.CreateFirstAdminKey(t.Context(), k)
		if err != nil || created {
			t.Errorf("CreateFirstAdminKey with an admin key stored = %v, %v; want false", created, err)
		}
	})
	t.Run("FirstAdminKeyConcurrent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		const n = 20
		var (
			wg      sync.WaitGroup
			tokens  [n]string
			created [n]bool
		)
		for i := range n {
			var k hook.APIKey
			k, tokens[i] = hook.NewAPIKey("", now)
			wg.Go(func() {
				var err error
				created[i], err = s.CreateFirstAdminKey(t.Context(), k)
				if err != nil {
					t.Errorf("CreateFirstAdminKey: %v", err)
				}
			})
		}
		wg.Wait()
		var nCreated, nStored int
		for i := range n {
			if created[i] {
				nCreated++
			}
			if _, err := s.APIKeyByHash(t.Context(), hook.HashToken(tokens[i])); err == nil {
				nStored++
				if !created[i] {
					t.Errorf("key %d stored but CreateFirstAdminKey reported false", i)
				}
			}
		}
		if nCreated != 1 || nStored != 1 {
			t.Errorf("%d concurrent CreateFirstAdminKey: %d reported true, %d stored; want 1 and 1", n, nCreated, nStored)
		}
	})
}
