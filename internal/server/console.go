package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/hook"
)

// newConsole makes the web console of /ui/ from cfg. Without
// Config.ConsoleKey it signs with a random key: sessions and portal links
// then hold only in this process, until it restarts.
func newConsole(cfg Config) (*console.Console, error) {
	key := cfg.ConsoleKey
	if key == nil {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // never fails (Go 1.24+)
	}
	c := console.Config{
		Store: cfg.Store, SecretKey: key, PublicURL: cfg.PublicURL, FrameAncestors: cfg.FrameAncestors,
		Announce: cfg.Announce, Now: cfg.Now, Logger: cfg.Logger, Circuit: cfg.Circuit,
	}
	if cfg.TestSender != nil {
		c.TestSender = cfg.TestSender
	}
	con, err := console.New(c)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return con, nil
}

// portalLinkIn is the body of POST /v1/tenants/{id}/portal-links; it may
// be empty.
type portalLinkIn struct {
	ExpiresIn *string `json:"expiresIn"` // absent: console.DefaultLinkTTL
	ReadOnly  bool    `json:"readOnly"`
}

type portalLinkOut struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// createPortalLink answers a signed link to the tenant's portal.
func (s *Server) createPortalLink(ctx context.Context, c *call[portalLinkIn]) (reply, error) {
	id := c.r.PathValue("id")
	ttl := console.DefaultLinkTTL
	if c.in.ExpiresIn != nil {
		var fe fieldErrors
		ttl = parseDuration(&fe, "expiresIn", *c.in.ExpiresIn)
		if len(fe) == 0 && (ttl < time.Minute || ttl > console.MaxLinkTTL) {
			fe.add("expiresIn", "must be from 1m to %s", console.MaxLinkTTL)
		}
		if err := fe.err(); err != nil {
			return reply{}, err
		}
	}
	if id == hook.OperationalTenant {
		// Its endpoints receive events about every tenant.
		return reply{}, forbidden("the tenant %q has no portal", id)
	}
	if _, err := s.store.Tenant(ctx, id); err != nil {
		if errors.Is(err, hook.ErrNotFound) {
			return reply{}, notFound("no tenant %q", id)
		}
		return reply{}, fmt.Errorf("get tenant: %w", err)
	}
	url, exp := s.console.PortalLink(id, ttl, c.in.ReadOnly)
	return reply{status: http.StatusCreated, body: portalLinkOut{URL: url, ExpiresAt: exp.UTC()}}, nil
}

// webConsole is what the server needs of the console.
type webConsole interface {
	http.Handler
	PortalLink(tenantID string, ttl time.Duration, readOnly bool) (string, time.Time)
}
