package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/webhook"
)

// announceTimeout bounds the announcement of a change (as in the API).
const announceTimeout = 10 * time.Second

// announce announces a change of endpoint e with Config.Announce, as the
// API does for the same change.
func (c *Console) announce(ctx context.Context, typ string, e hook.Endpoint, reason string) {
	if c.cfg.Announce == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
	defer cancel()
	c.cfg.Announce(ctx, hook.EndpointOperation(typ, e, reason, c.now()))
}

func endpointPage(id string) string { return "/ui/endpoints/" + url.PathEscape(id) }
func deliveryPage(id string) string { return "/ui/deliveries/" + url.PathEscape(id) }

// gone is the error when an endpoint was deleted between its lookup and a
// write.
func gone(err error, id, what string) error {
	if errors.Is(err, hook.ErrNotFound) {
		return errNotFound("There is no webhook endpoint %q.", id)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (c *Console) retry(r *http.Request, s *session) (result, error) {
	d, err := c.deliveryOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return result{}, err
	}
	_, err = c.cfg.Store.RetryDelivery(r.Context(), d.ID, c.now())
	switch {
	case errors.Is(err, hook.ErrConflict):
		return result{}, &pageError{http.StatusConflict, "This delivery is canceled: its endpoint was deleted."}
	case err != nil:
		return result{}, fmt.Errorf("retry delivery: %w", err)
	}
	return result{redirect: deliveryPage(d.ID), flash: "Retry queued: one more attempt of this delivery is due now."}, nil
}

// replay retries the event's deliveries to every active endpoint of its
// tenant that matches it now, as POST /v1/events/{id}/replay without
// endpointIds does.
func (c *Console) replay(r *http.Request, s *session) (result, error) {
	ev, err := c.cfg.Store.Event(r.Context(), r.PathValue("id"))
	if errors.Is(err, hook.ErrNotFound) || err == nil && !sees(s, ev.TenantID) {
		return result{}, errNotFound("There is no event %q.", r.PathValue("id"))
	}
	if err != nil {
		return result{}, fmt.Errorf("get event: %w", err)
	}
	ds, err := c.cfg.Store.ReplayEvent(r.Context(), ev.ID, nil, c.now())
	if err != nil {
		return result{}, fmt.Errorf("replay event: %w", err)
	}
	back := "/ui/"
	if id := r.PostForm.Get("delivery"); hook.ValidID(id) {
		back = deliveryPage(id)
	}
	return result{redirect: back, flash: fmt.Sprintf("Event %s replayed: a retry queued for %d endpoint(s).", ev.ID, len(ds))}, nil
}

func (c *Console) disable(r *http.Request, s *session) (result, error) {
	e, err := c.endpointOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return result{}, err
	}
	reason := cmp.Or(strings.TrimSpace(r.PostForm.Get("reason")), hook.DisabledByAPI)
	if len(reason) > 1024 {
		return result{}, errInvalid("The reason must be at most 1024 characters.")
	}
	was := e.Status
	if e, err = c.cfg.Store.DisableEndpoint(r.Context(), e.ID, reason, c.now()); err != nil {
		return result{}, gone(err, r.PathValue("id"), "disable endpoint")
	}
	if was != hook.EndpointDisabled {
		c.announce(r.Context(), hook.OpEndpointDisabled, e, reason)
	}
	return result{redirect: endpointPage(e.ID), flash: "Endpoint disabled: its deliveries wait until it is enabled."}, nil
}

func (c *Console) enable(r *http.Request, s *session) (result, error) {
	e, err := c.endpointOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return result{}, err
	}
	was := e.Status
	if e, err = c.cfg.Store.EnableEndpoint(r.Context(), e.ID, c.now()); err != nil {
		return result{}, gone(err, r.PathValue("id"), "enable endpoint")
	}
	if was != hook.EndpointActive {
		c.announce(r.Context(), hook.OpEndpointEnabled, e, "")
	}
	return result{redirect: endpointPage(e.ID), flash: "Endpoint enabled: its health is reset and waiting deliveries are due now."}, nil
}

// secretData is the page that shows an endpoint's secrets.
type secretData struct {
	E       hook.Endpoint
	Current string
	Old     []hook.Secret
	Rotated bool
}

func secretView(e hook.Endpoint, now time.Time, rotated bool) secretData {
	d := secretData{E: e, Current: e.Secret(), Rotated: rotated}
	for _, k := range e.Secrets[min(1, len(e.Secrets)):] {
		if k.ExpiresAt.After(now) {
			d.Old = append(d.Old, k)
		}
	}
	return d
}

// revealSecret shows the endpoint's secrets: only on this explicit POST.
func (c *Console) revealSecret(r *http.Request, s *session) (result, error) {
	e, err := c.endpointOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return result{}, err
	}
	return result{tmpl: "secret", data: secretView(e, c.now(), false)}, nil
}

// overlaps are the choices the rotate form offers for the old secret.
var overlaps = map[string]time.Duration{"0s": 0, "1h": time.Hour, "24h": 24 * time.Hour, "168h": 7 * 24 * time.Hour}

func (c *Console) rotateSecret(r *http.Request, s *session) (result, error) {
	e, err := c.endpointOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return result{}, err
	}
	overlap, ok := overlaps[cmp.Or(r.PostForm.Get("expireOldAfter"), "24h")]
	if !ok {
		return result{}, errInvalid("Choose how long the old secret keeps signing: 0s, 1h, 24h or 168h.")
	}
	key := webhook.NewSecret()
	if e.SignatureScheme == hook.SchemeEd25519 {
		key = webhook.NewSigningKey()
	}
	now := c.now()
	e, err = c.cfg.Store.RotateEndpointSecret(r.Context(), e.ID, hook.SecretRotation{Key: key, ExpireOld: now.Add(overlap), Now: now})
	switch {
	case errors.Is(err, hook.ErrTooManySecrets):
		return result{}, &pageError{http.StatusConflict, fmt.Sprintf(
			"The endpoint has %d old secrets that still sign, the most it may have. Rotate with \"stop at once\", or wait until one expires.", hook.MaxOldSecrets)}
	case errors.Is(err, hook.ErrConflict):
		return result{}, &pageError{http.StatusConflict, "The endpoint changed during the rotation; try again."}
	case err != nil:
		return result{}, gone(err, r.PathValue("id"), "rotate endpoint secret")
	}
	return result{tmpl: "secret", data: secretView(e, now, true)}, nil
}

// test sends a herald.ping to the endpoint now, whatever its status, as
// POST …/test does; nothing is stored.
func (c *Console) test(r *http.Request, s *session) (result, error) {
	e, err := c.endpointOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return result{}, err
	}
	if c.cfg.TestSender == nil {
		return result{}, &pageError{http.StatusServiceUnavailable, "Delivery is not enabled on this node."}
	}
	a, err := c.cfg.TestSender.SendTest(r.Context(), e, hook.NewPing(e, c.now()))
	if err != nil {
		return result{}, fmt.Errorf("test endpoint: %w", err)
	}
	msg := fmt.Sprintf("Test event sent: answered %d in %.0f ms.", a.StatusCode, float64(a.Duration.Microseconds())/1000)
	if !a.Succeeded() {
		msg = fmt.Sprintf("Test event sent and failed (%s): %s", a.Error, a.ErrorMessage)
		if a.StatusCode != 0 {
			msg = fmt.Sprintf("Test event sent and failed: answered %d.", a.StatusCode)
		}
	}
	return result{redirect: endpointPage(e.ID), flash: msg}, nil
}

// recoverEndpoint starts a recover job for events created since the time
// given (UTC), until now.
func (c *Console) recoverEndpoint(r *http.Request, s *session) (result, error) {
	e, err := c.endpointOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return result{}, err
	}
	now := c.now()
	since, err := time.Parse("2006-01-02T15:04", r.PostForm.Get("since"))
	if err != nil {
		if since, err = time.Parse(time.RFC3339, r.PostForm.Get("since")); err != nil {
			return result{}, errInvalid("Give the time to recover from as 2026-05-08T10:15 (UTC).")
		}
	}
	if !since.Before(now) {
		return result{}, errInvalid("The time to recover from must be in the past.")
	}
	j, err := c.cfg.Store.CreateJob(r.Context(), hook.NewRecoverJob(e, since, now, now))
	if err != nil {
		return result{}, fmt.Errorf("create job: %w", err)
	}
	return result{redirect: endpointPage(e.ID), flash: fmt.Sprintf(
		"Recover job %s started for %d event(s) created since %s UTC: failed deliveries are due again now.",
		j.ID, j.Total, since.UTC().Format("2006-01-02 15:04"))}, nil
}

// endpointForm reads the fields of the endpoint form into e.
func endpointForm(r *http.Request, e *hook.Endpoint) error {
	f := r.PostForm
	e.URL = strings.TrimSpace(f.Get("url"))
	e.Description = strings.TrimSpace(f.Get("description"))
	e.Events = strings.FieldsFunc(f.Get("events"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if e.Events == nil {
		e.Events = []string{}
	}
	var bad []string
	if v := strings.TrimSpace(f.Get("rateLimit")); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			bad = append(bad, "rate limit must be a number of requests per second")
		}
		e.RateLimit = n
	} else {
		e.RateLimit = 0
	}
	if v := strings.TrimSpace(f.Get("maxInFlight")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			bad = append(bad, "max in flight must be a whole number")
		}
		e.MaxInFlight = n
	}
	if v := strings.TrimSpace(f.Get("timeout")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			bad = append(bad, "timeout must be a duration such as 15s")
		}
		e.Timeout = d
	}
	if len(bad) > 0 {
		return errInvalid("The endpoint was not saved: %s.", strings.Join(bad, "; "))
	}
	if err := e.Validate(); err != nil {
		return &pageError{http.StatusBadRequest, "The endpoint was not saved: " + strings.TrimPrefix(err.Error(), "invalid input: ") + "."}
	}
	return nil
}

func (c *Console) createEndpoint(r *http.Request, s *session) (result, error) {
	t, err := c.tenantOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return result{}, err
	}
	now := c.now()
	e := hook.Endpoint{
		ID: hook.NewID(hook.PrefixEndpoint), TenantID: t.ID, SignatureScheme: hook.SchemeStandard,
		MaxInFlight: hook.DefaultMaxInFlight, Timeout: hook.DefaultTimeout, Status: hook.EndpointActive,
		CreatedAt: now, UpdatedAt: now,
	}
	if v := r.PostForm.Get("signatureScheme"); v != "" {
		e.SignatureScheme = hook.SignatureScheme(v)
	}
	if err := endpointForm(r, &e); err != nil {
		return result{}, err
	}
	key := webhook.NewSecret()
	if e.SignatureScheme == hook.SchemeEd25519 {
		key = webhook.NewSigningKey()
	}
	e.Secrets = []hook.Secret{{Key: key}}
	if err := c.cfg.Store.CreateEndpoint(r.Context(), e); err != nil {
		if errors.Is(err, hook.ErrNotFound) {
			return result{}, errNotFound("There is no tenant %q.", t.ID)
		}
		return result{}, fmt.Errorf("create endpoint: %w", err)
	}
	c.announce(r.Context(), hook.OpEndpointCreated, e, "")
	return result{redirect: endpointPage(e.ID), flash: "Endpoint created. Reveal its signing secret below to configure the receiver."}, nil
}

func (c *Console) updateEndpoint(r *http.Request, s *session) (result, error) {
	e, err := c.endpointOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return result{}, err
	}
	if err := endpointForm(r, &e); err != nil {
		return result{}, err
	}
	e.UpdatedAt = c.now()
	e.Secrets = nil // keep the stored ones: a rotation may have committed since the read
	if err := c.cfg.Store.UpdateEndpoint(r.Context(), e); err != nil {
		return result{}, gone(err, e.ID, "update endpoint")
	}
	c.announce(r.Context(), hook.OpEndpointUpdated, e, "")
	return result{redirect: endpointPage(e.ID), flash: "Endpoint saved."}, nil
}

func (c *Console) deleteEndpoint(r *http.Request, s *session) (result, error) {
	e, err := c.endpointOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return result{}, err
	}
	if err := c.cfg.Store.DeleteEndpoint(r.Context(), e.ID, c.now()); err != nil {
		return result{}, gone(err, e.ID, "delete endpoint")
	}
	c.announce(r.Context(), hook.OpEndpointDeleted, e, "")
	return result{redirect: "/ui/tenants/" + url.PathEscape(e.TenantID), flash: fmt.Sprintf(
		"Endpoint %s deleted: its pending deliveries are canceled; its delivery log stays.", e.ID)}, nil
}

func (c *Console) newEndpoint(r *http.Request, s *session) (string, any, error) {
	t, err := c.tenantOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return "", nil, err
	}
	return "endpoint-form", formData{Tenant: t, E: hook.Endpoint{
		MaxInFlight: hook.DefaultMaxInFlight, Timeout: hook.DefaultTimeout, Events: []string{"*"},
	}}, nil
}

func (c *Console) editEndpoint(r *http.Request, s *session) (string, any, error) {
	e, err := c.endpointOf(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return "", nil, err
	}
	return "endpoint-form", formData{Tenant: hook.Tenant{ID: e.TenantID}, E: e, Edit: true}, nil
}

type formData struct {
	Tenant hook.Tenant
	E      hook.Endpoint
	Edit   bool
}
