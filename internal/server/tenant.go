package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

type tenantIn struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Metadata map[string]string `json:"metadata"`
}

type tenantOut struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Metadata  map[string]string `json:"metadata"`
	CreatedAt time.Time         `json:"createdAt"`
}

func tenantJSON(t hook.Tenant) tenantOut {
	return tenantOut{ID: t.ID, Name: t.Name, Metadata: nonNilMap(t.Metadata), CreatedAt: t.CreatedAt.UTC()}
}

// errReservedTenant answers attempts to create or delete the operational
// tenant. It is a conflict with the state of the server (the tenant exists
// and must keep existing) rather than a question of permission: not even
// the admin key may do it.
var errReservedTenant = conflict("the tenant %q is reserved for Herald's operational events; it cannot be created or deleted", hook.OperationalTenant)

func (s *Server) createTenant(ctx context.Context, c *call[tenantIn]) (reply, error) {
	t := hook.Tenant{ID: c.in.ID, Name: c.in.Name, Metadata: c.in.Metadata, CreatedAt: s.now()}
	if t.ID == "" {
		t.ID = hook.NewID(hook.PrefixTenant)
	}
	if t.ID == hook.OperationalTenant {
		return reply{}, errReservedTenant
	}
	if err := t.Validate(); err != nil {
		return reply{}, err
	}
	if err := s.store.CreateTenant(ctx, t); err != nil {
		if errors.Is(err, hook.ErrConflict) {
			return reply{}, conflict("the tenant id %q is taken (ids of deleted tenants are not reused)", t.ID)
		}
		return reply{}, fmt.Errorf("create tenant: %w", err)
	}
	return s.created("/v1/tenants/"+t.ID, tenantJSON(t)), nil
}

func (s *Server) listTenants(ctx context.Context, c *call[none]) (reply, error) {
	q := readQuery(c.r)
	p := q.page()
	if err := q.err(); err != nil {
		return reply{}, err
	}
	page, err := s.store.ListTenants(ctx, p)
	if err != nil {
		return reply{}, fmt.Errorf("list tenants: %w", err)
	}
	return ok(newList(page, tenantJSON)), nil
}

func (s *Server) getTenant(ctx context.Context, c *call[none]) (reply, error) {
	t, err := s.tenant(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	return ok(tenantJSON(t)), nil
}

// tenant returns the tenant id if the caller sees it.
func (s *Server) tenant(ctx context.Context, key hook.APIKey, id string) (hook.Tenant, error) {
	if !sees(key, id) {
		return hook.Tenant{}, notFound("no tenant %q", id)
	}
	t, err := s.store.Tenant(ctx, id)
	if errors.Is(err, hook.ErrNotFound) {
		return hook.Tenant{}, notFound("no tenant %q", id)
	}
	if err != nil {
		return hook.Tenant{}, fmt.Errorf("get tenant: %w", err)
	}
	return t, nil
}

func (s *Server) deleteTenant(ctx context.Context, c *call[none]) (reply, error) {
	id := c.r.PathValue("id")
	if id == hook.OperationalTenant {
		return reply{}, errReservedTenant
	}
	err := s.store.DeleteTenant(ctx, id, s.now())
	if errors.Is(err, hook.ErrNotFound) {
		return reply{}, notFound("no tenant %q", id)
	}
	if err != nil {
		return reply{}, fmt.Errorf("delete tenant: %w", err)
	}
	return noContent(), nil
}

type apiKeyOut struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenantId"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
}

func apiKeyJSON(k hook.APIKey) apiKeyOut {
	return apiKeyOut{ID: k.ID, TenantID: k.TenantID, Prefix: k.Prefix, CreatedAt: k.CreatedAt.UTC(), LastUsedAt: timeOrNull(k.LastUsedAt)}
}

// newAPIKeyOut is the answer that creates a key: the only one with the key.
type newAPIKeyOut struct {
	apiKeyOut
	Key string `json:"key"`
}

// apiKeyIn is the body of POST …/api-keys: empty, or an object with no
// fields. It is read, not ignored, so that a field the API lacks ("name")
// is refused like any unknown field.
type apiKeyIn struct{}

func (s *Server) createAPIKey(ctx context.Context, c *call[apiKeyIn]) (reply, error) {
	t, err := s.tenant(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	k, token := hook.NewAPIKey(t.ID, s.now())
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return reply{}, fmt.Errorf("create api key: %w", err)
	}
	// A key has no URL of its own to GET; its Location is the list.
	return s.created("/v1/tenants/"+t.ID+"/api-keys", newAPIKeyOut{apiKeyJSON(k), token}), nil
}

func (s *Server) listAPIKeys(ctx context.Context, c *call[none]) (reply, error) {
	q := readQuery(c.r)
	p := q.page()
	if err := q.err(); err != nil {
		return reply{}, err
	}
	t, err := s.tenant(ctx, c.key, c.r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	page, err := s.store.ListAPIKeys(ctx, t.ID, p)
	if err != nil {
		return reply{}, fmt.Errorf("list api keys: %w", err)
	}
	return ok(newList(page, apiKeyJSON)), nil
}

func (s *Server) deleteAPIKey(ctx context.Context, c *call[none]) (reply, error) {
	tenantID, keyID := c.r.PathValue("id"), c.r.PathValue("keyId")
	err := s.store.DeleteAPIKey(ctx, tenantID, keyID)
	if errors.Is(err, hook.ErrNotFound) {
		return reply{}, notFound("tenant %q has no API key %q", tenantID, keyID)
	}
	if err != nil {
		return reply{}, fmt.Errorf("delete api key: %w", err)
	}
	return noContent(), nil
}

// healthz answers while the process serves requests.
func (s *Server) healthz(context.Context, *call[none]) (reply, error) {
	return ok(map[string]string{"status": "ok"}), nil
}

// readyz answers when the database does.
func (s *Server) readyz(ctx context.Context, _ *call[none]) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return reply{}, &statusError{http.StatusServiceUnavailable, typeUnavailable,
			"the database does not answer", fmt.Errorf("ping store: %w", err)}
	}
	if s.ready != nil {
		if err := s.ready(); err != nil {
			return reply{}, &statusError{http.StatusServiceUnavailable, typeUnavailable,
				"the server is not ready: " + err.Error(), err}
		}
	}
	return ok(map[string]string{"status": "ok"}), nil
}
