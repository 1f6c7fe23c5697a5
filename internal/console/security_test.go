package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/server"
)

// pages are every GET page of the console for the env's objects.
func (e *env) pages(d hook.Delivery) []string {
	return []string{
		"/ui/", "/ui/tenants", "/ui/tenants/acme", "/ui/tenants/acme/new-endpoint",
		"/ui/endpoints/" + e.acme.ID, "/ui/endpoints/" + e.acme.ID + "/edit",
		"/ui/endpoints/" + e.acme.ID + "?status=failed", "/ui/deliveries/" + d.ID,
	}
}

func TestNoPageWithoutSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.failed("acme", "payout.paid")
	b := e.browser()
	for _, p := range e.pages(d) {
		code, body := b.get(p)
		if code != http.StatusOK || !strings.Contains(body, "Admin API key") {
			t.Errorf("GET %s without a session: %d, want the sign-in page", p, code)
		}
		for _, leak := range []string{e.acme.ID, e.acme.URL, d.ID, "po_acme_44"} {
			if strings.Contains(body, leak) {
				t.Errorf("GET %s without a session shows %q", p, leak)
			}
		}
	}
	// A forged cookie is no session either.
	u, _ := url.Parse(e.url + "/ui/")
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "herald_session", Value: "eyJzaWQiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.forged", Path: "/ui/"}})
	if _, body := b.get("/ui/endpoints/" + e.acme.ID); !strings.Contains(body, "Admin API key") || strings.Contains(body, e.acme.URL) {
		t.Error("a forged session cookie opened the endpoint page")
	}
	// Actions without a session are refused and change nothing.
	code, _ := b.post("/ui/endpoints/"+e.acme.ID+"/disable", url.Values{})
	if code != http.StatusUnauthorized {
		t.Errorf("POST disable without a session: %d, want 401", code)
	}
	if ep, _ := e.store.Endpoint(context.Background(), e.acme.ID); ep.Status != hook.EndpointActive {
		t.Error("the endpoint was disabled without a session")
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.get("/ui/login")
	if code, body := b.post("/ui/login", url.Values{"key": {"hka_not-a-key-at-all"}}); code != http.StatusUnauthorized || !strings.Contains(body, "not an admin key") {
		t.Errorf("sign in with a wrong key: %d", code)
	}
	_, token := hook.NewAPIKey("acme", time.Now())
	tk, _ := hook.NewAPIKey("acme", time.Now())
	tk.Hash = hook.HashToken(token)
	if err := e.store.CreateAPIKey(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	if code, _ := b.post("/ui/login", url.Values{"key": {token}}); code != http.StatusUnauthorized {
		t.Errorf("sign in with a tenant key: %d, want 401", code)
	}
	// The sign-in form itself needs its CSRF token.
	if code, _ := b.post("/ui/login", url.Values{"key": {e.admin}, "csrf": {"forged"}}); code != http.StatusForbidden {
		t.Errorf("sign in without the form's CSRF token: %d, want 403", code)
	}
	b.signIn(e.admin)
	if code, body := b.get("/ui/tenants"); code != http.StatusOK || !strings.Contains(body, "Globex Shop") {
		t.Errorf("tenants page after sign-in: %d", code)
	}
	// Sign-out clears the session cookie.
	if code, body := b.post("/ui/logout", nil); code != http.StatusOK || !strings.Contains(body, "Admin API key") {
		t.Errorf("sign out: %d", code)
	}
	if _, body := b.get("/ui/tenants"); strings.Contains(body, "Globex Shop") {
		t.Error("the tenants page opened after sign-out")
	}
}

func TestNoActionWithoutCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.failed("acme", "payout.paid")
	b := e.browser()
	b.signIn(e.admin)
	other := e.browser()
	other.signIn(e.admin) // a valid token, of another session
	ep := "/ui/endpoints/" + e.acme.ID
	actions := []string{
		ep + "/disable", ep + "/enable", ep + "/rotate-secret", ep + "/test", ep + "/secret", ep + "/delete",
		ep + "/edit", ep + "/recover", "/ui/deliveries/" + d.ID + "/retry", "/ui/events/" + d.EventID + "/replay",
		"/ui/tenants/acme/endpoints",
	}
	before := e.received.Load()
	for _, a := range actions {
		for name, token := range map[string]string{"none": "", "forged": "AAAA", "another session's": other.csrf} {
			code, body := b.post(a, url.Values{
				"csrf": {token}, "url": {"https://example.com/x"}, "events": {"*"}, "since": {"2026-01-01T00:00"},
			})
			if code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
				t.Errorf("POST %s with %s token: %d, want 403", a, name, code)
			}
			if strings.Contains(body, e.acme.Secret()) {
				t.Errorf("POST %s with %s token showed the secret", a, name)
			}
		}
	}
	ctx := context.Background()
	got, _ := e.store.Endpoint(ctx, e.acme.ID)
	if got.Status != hook.EndpointActive || got.Secret() != e.acme.Secret() || got.URL != e.acme.URL {
		t.Errorf("the endpoint changed without a CSRF token: %+v", got)
	}
	if dd, _ := e.store.Delivery(ctx, d.ID); dd.Status != hook.DeliveryFailed || dd.AttemptCount != 1 {
		t.Errorf("the delivery changed without a CSRF token: %s after %d attempts", dd.Status, dd.AttemptCount)
	}
	if n := e.received.Load(); n != before {
		t.Errorf("the receiver got %d requests from forms without a CSRF token", n-before)
	}
	if p, _ := e.store.ListEndpoints(ctx, hook.EndpointFilter{TenantID: "acme"}); len(p.Items) != 1 {
		t.Errorf("acme has %d endpoints, want 1", len(p.Items))
	}
	// With the token the same action works.
	if code, body := b.post(ep+"/disable", nil); code != http.StatusOK || !strings.Contains(body, "Endpoint disabled") {
		t.Errorf("disable with the token: %d", code)
	}
}

func TestNoSecretUnlessRevealed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	now := hook.Timestamp(time.Now())
	// An old secret that still signs, besides the current one.
	rotated, err := e.store.RotateEndpointSecret(ctx, e.acme.ID, hook.SecretRotation{Key: "whsec_" + strings.Repeat("QUJD", 8), ExpireOld: now.Add(time.Hour), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	d := e.failed("acme", "payout.paid")
	secrets := []string{rotated.Secrets[0].Key, rotated.Secrets[1].Key, "custom-header-value-acme", e.globex.Secret()}
	check := func(who string, b *browser) {
		for _, p := range e.pages(d) {
			code, body := b.get(p)
			if code != http.StatusOK {
				t.Errorf("%s: GET %s: %d", who, p, code)
			}
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Errorf("%s: GET %s shows the secret %q", who, p, s)
				}
			}
		}
		code, body := b.post("/ui/endpoints/"+e.acme.ID+"/secret", nil)
		if code != http.StatusOK || !strings.Contains(body, secrets[0]) || !strings.Contains(body, secrets[1]) {
			t.Errorf("%s: reveal: %d, want the current and the old secret\n%s", who, code, body)
		}
	}
	op := e.browser()
	op.signIn(e.admin)
	check("operator", op)
	_, link := e.portalLink("acme", "")
	portal := e.browser()
	portal.open(link["url"].(string))
	check("portal", portal)
}

func TestPortalSeesOnlyItsTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	gd := e.failed("globex", "order.created")
	ad := e.failed("acme", "payout.paid")
	_, link := e.portalLink("acme", `{"expiresIn": "30m"}`)
	b := e.browser()
	b.open(link["url"].(string))
	leaks := []string{"globex", "Globex", e.globex.ID, gd.ID, gd.EventID, "order.created"}
	for _, p := range append(e.pages(ad), "/ui/tenants?cursor=") {
		code, body := b.get(p)
		if code != http.StatusOK {
			t.Errorf("portal GET %s: %d", p, code)
		}
		for _, l := range leaks {
			if strings.Contains(body, l) {
				t.Errorf("portal GET %s shows %q of another tenant", p, l)
			}
		}
	}
	for _, p := range []string{"/ui/tenants/globex", "/ui/endpoints/" + e.globex.ID, "/ui/deliveries/" + gd.ID, "/ui/tenants/globex/new-endpoint", "/ui/endpoints/" + e.globex.ID + "/edit"} {
		if code, body := b.get(p); code != http.StatusNotFound || strings.Contains(body, e.globex.URL) || strings.Contains(body, "po_globex") {
			t.Errorf("portal GET %s: %d, want 404 with nothing of globex", p, code)
		}
	}
	ep := "/ui/endpoints/" + e.globex.ID
	for _, a := range []string{ep + "/disable", ep + "/rotate-secret", ep + "/secret", ep + "/delete", ep + "/edit", ep + "/test", ep + "/recover",
		"/ui/deliveries/" + gd.ID + "/retry", "/ui/events/" + gd.EventID + "/replay", "/ui/tenants/globex/endpoints"} {
		code, body := b.post(a, url.Values{"url": {"https://example.com/x"}, "events": {"*"}, "since": {"2026-01-01T00:00"}})
		if code != http.StatusNotFound || strings.Contains(body, e.globex.Secret()) {
			t.Errorf("portal POST %s: %d, want 404", a, code)
		}
	}
	got, _ := e.store.Endpoint(ctx, e.globex.ID)
	if got.Status != hook.EndpointActive || got.Secret() != e.globex.Secret() || got.URL != e.globex.URL {
		t.Error("the acme portal changed globex's endpoint")
	}
	if d, _ := e.store.Delivery(ctx, gd.ID); d.AttemptCount != 1 || d.Status != hook.DeliveryFailed {
		t.Error("the acme portal retried globex's delivery")
	}
	// Its own endpoints it may add, edit and remove.
	code, body := b.post("/ui/tenants/acme/endpoints", url.Values{"url": {"https://hooks.acme.example/new"}, "events": {"payout.*"}, "maxInFlight": {"4"}, "timeout": {"5s"}})
	if code != http.StatusOK || !strings.Contains(body, "Endpoint created") {
		t.Fatalf("portal adds an endpoint: %d\n%s", code, body)
	}
	if code, body = b.post("/ui/endpoints/"+e.acme.ID+"/edit", url.Values{"url": {"https://hooks.acme.example/edited"}, "events": {"payout.paid"}}); code != http.StatusOK || !strings.Contains(body, "Endpoint saved") {
		t.Errorf("portal edits its endpoint: %d", code)
	}
	if got, _ := e.store.Endpoint(ctx, e.acme.ID); got.URL != "https://hooks.acme.example/edited" || got.Secret() != e.acme.Secret() || got.Headers["X-Api-Token"] == "" {
		t.Errorf("after the edit: %+v", got)
	}
	if code, body = b.post("/ui/endpoints/"+e.acme.ID+"/delete", nil); code != http.StatusOK || !strings.Contains(body, "deleted") {
		t.Errorf("portal deletes its endpoint: %d", code)
	}
}

func TestReadOnlyPortal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.failed("acme", "payout.paid")
	_, link := e.portalLink("acme", `{"readOnly": true}`)
	b := e.browser()
	b.open(link["url"].(string))
	code, body := b.get("/ui/endpoints/" + e.acme.ID)
	if code != http.StatusOK || !strings.Contains(body, "read-only") || strings.Contains(body, `id="rotate"`) {
		t.Errorf("read-only endpoint page: %d, want no action forms", code)
	}
	for _, a := range []string{"/ui/endpoints/" + e.acme.ID + "/disable", "/ui/endpoints/" + e.acme.ID + "/secret", "/ui/deliveries/" + d.ID + "/retry"} {
		if code, _ := b.post(a, nil); code != http.StatusForbidden {
			t.Errorf("read-only POST %s: %d, want 403", a, code)
		}
	}
}

func TestPortalLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code, out := e.portalLink("acme", `{"expiresIn": "10m"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST portal-links: %d %v", code, out)
	}
	link := out["url"].(string)
	if !strings.HasPrefix(link, e.url+"/ui/portal?token=") {
		t.Errorf("url %q is not under the public URL", link)
	}
	exp, err := time.Parse(time.RFC3339, out["expiresAt"].(string))
	if err != nil || exp.Sub(time.Now()) > 10*time.Minute || exp.Sub(time.Now()) < 9*time.Minute {
		t.Errorf("expiresAt %v, want in 10 minutes", out["expiresAt"])
	}
	for _, c := range []struct {
		tenant, body string
		want         int
	}{
		{"nobody", "", http.StatusNotFound},
		{"acme", `{"expiresIn": "soon"}`, http.StatusBadRequest},
		{"acme", `{"expiresIn": "200h"}`, http.StatusBadRequest},
		{"acme", `{"expiresIn": "1h", "extra": 1}`, http.StatusBadRequest},
		{"acme", "", http.StatusCreated},
	} {
		if code, out := e.portalLink(c.tenant, c.body); code != c.want {
			t.Errorf("POST /v1/tenants/%s/portal-links %s: %d %v, want %d", c.tenant, c.body, code, out, c.want)
		}
	}
	// A tenant key may not make links.
	tk, token := hook.NewAPIKey("acme", time.Now())
	if err := e.store.CreateAPIKey(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", e.url+"/v1/tenants/acme/portal-links", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a tenant key made a portal link: %v %v", resp.StatusCode, err)
	}

	// Tampered: another tenant in the payload, or a changed signature.
	u, _ := url.Parse(link)
	token = u.Query().Get("token")
	payload, sig, _ := strings.Cut(token, ".")
	for name, bad := range map[string]string{
		"signature": payload + "." + strings.Repeat("A", len(sig)),
		"payload":   strings.Replace(payload, payload[2:6], "AAAA", 1) + "." + sig,
		"truncated": payload,
		"empty":     "",
	} {
		b := e.browser()
		code, body := b.get("/ui/portal?token=" + url.QueryEscape(bad))
		if code != http.StatusForbidden || !strings.Contains(body, "not valid") {
			t.Errorf("%s link: %d, want 403", name, code)
		}
		if _, body := b.get("/ui/tenants/acme"); strings.Contains(body, e.acme.URL) {
			t.Errorf("%s link opened a session", name)
		}
	}
	// Expired.
	e.offset.Store(int64(11 * time.Minute))
	b := e.browser()
	if code, body := b.get(link); code != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Errorf("expired link: %d, want 403", code)
	}
}

// TestFraming: framing is refused everywhere, but for the portal (its
// link and a portal session's pages) when --frame-ancestors lists origins;
// the operator's console and its sign-in are never framed.
func TestFraming(t *testing.T) {
	t.Parallel()
	const none, listed = "frame-ancestors 'none'", "frame-ancestors https://app.example.com https://admin.example.com:8443"
	for _, c := range []struct {
		origins    []string
		portalCSP  string
		portalDENY bool
	}{
		{nil, none, true},
		{[]string{"https://app.example.com", "https://admin.example.com:8443"}, listed, false},
	} {
		e := newEnv(t, func(cfg *server.Config) { cfg.FrameAncestors = c.origins })
		check := func(what string, h http.Header, wantCSP string, wantDENY bool) {
			t.Helper()
			if csp := h.Get("Content-Security-Policy"); !strings.HasSuffix(csp, wantCSP) {
				t.Errorf("%s: CSP %q, want it to end with %q", what, csp, wantCSP)
			}
			if x := h.Get("X-Frame-Options"); (x == "DENY") != wantDENY {
				t.Errorf("%s: X-Frame-Options %q, want DENY %v", what, x, wantDENY)
			}
		}
		for _, p := range []string{"/ui/login", "/ui/", "/ui/static/style.css"} {
			resp, err := http.Get(e.url + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			check(p, resp.Header, none, true)
		}
		resp, err := http.Get(e.url + "/ui/portal?token=x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		check("/ui/portal", resp.Header, c.portalCSP, c.portalDENY)

		// A portal session's pages may be framed; an operator's may not.
		_, out := e.portalLink("acme", "")
		portal := e.browser()
		portal.open(out["url"].(string))
		operator := e.browser()
		operator.signIn(e.admin)
		for _, b := range []struct {
			name     string
			b        *browser
			csp      string
			wantDENY bool
		}{{"portal", portal, c.portalCSP, c.portalDENY}, {"operator", operator, none, true}} {
			req, _ := http.NewRequest("GET", e.url+"/ui/tenants/acme", nil)
			resp, err := b.b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			check(b.name+" page", resp.Header, b.csp, b.wantDENY)
		}
	}
	if _, err := server.New(server.Config{Store: newEnv(t).store, FrameAncestors: []string{"https://x.example.com/path"}}); err == nil {
		t.Error("a frame ancestor with a path was accepted")
	}
}

// TestPortalLinkNeverReplacesSession: a portal link opened in a browser
// that has another session asks first, with a form of that session; the
// link alone does not sign the operator out.
func TestPortalLinkNeverReplacesSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, out := e.portalLink("globex", "")
	link := out["url"].(string)
	b := e.browser()
	b.signIn(e.admin)
	code, body := b.get(link)
	if code != http.StatusOK || !strings.Contains(body, "Open the portal of globex") {
		t.Fatalf("link with an operator session: %d, want the question\n%s", code, body)
	}
	if _, body := b.get("/ui/tenants"); !strings.Contains(body, "acme") {
		t.Fatal("the operator session ended when the link was opened")
	}
	// A form posted from elsewhere (without the session's CSRF token) is
	// refused; the operator stays signed in.
	u, _ := url.Parse(link)
	if code, _ := b.post("/ui/portal", url.Values{"token": {u.Query().Get("token")}, "csrf": {"forged"}}); code != http.StatusForbidden {
		t.Errorf("switch without the CSRF token: %d, want 403", code)
	}
	if _, body := b.get("/ui/tenants"); !strings.Contains(body, "acme") {
		t.Fatal("a forged switch ended the operator session")
	}
	// Asked and answered: the portal of globex, and nothing of acme.
	b.get(link)
	code, body = b.post("/ui/portal", url.Values{"token": {u.Query().Get("token")}})
	if code != http.StatusOK || !strings.Contains(body, "Portal") || strings.Contains(body, e.acme.URL) {
		t.Fatalf("switch: %d\n%s", code, body)
	}
	if code, _ := b.get("/ui/tenants/acme"); code != http.StatusNotFound {
		t.Errorf("after the switch the browser still reaches acme: %d", code)
	}
}

// TestPortalSessionEndsWithLink: a portal session lasts no longer than the
// link that began it.
func TestPortalSessionEndsWithLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, out := e.portalLink("acme", `{"expiresIn": "2m"}`)
	b := e.browser()
	b.open(out["url"].(string))
	e.offset.Store(int64(3 * time.Minute))
	if code, body := b.get("/ui/tenants/acme"); code == http.StatusOK && strings.Contains(body, e.acme.URL) {
		t.Errorf("the portal session outlived its 2-minute link: %d", code)
	}
	if code, _ := e.portalLink(hook.OperationalTenant, ""); code != http.StatusForbidden {
		t.Errorf("a portal link of the operational tenant: %d, want 403", code)
	}
}

func TestCookieAttributes(t *testing.T) {
	t.Parallel()
	store := newEnv(t).store
	for _, c := range []struct {
		publicURL  string
		wantSecure bool
	}{{"https://herald.example.com", true}, {"http://127.0.0.1:8080", false}} {
		srv, err := server.New(server.Config{Store: store, PublicURL: c.publicURL, ConsoleKey: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/login", nil))
		cookies := rec.Result().Cookies()
		if len(cookies) == 0 {
			t.Fatalf("%s: the sign-in page sets no cookie", c.publicURL)
		}
		for _, ck := range cookies {
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/ui/" || ck.Secure != c.wantSecure {
				t.Errorf("%s: cookie %s: HttpOnly %v, SameSite %v, Path %q, Secure %v; want HttpOnly, Lax, /ui/, Secure %v",
					c.publicURL, ck.Name, ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure, c.wantSecure)
			}
		}
	}
}

// TestSessionEndsWithAdminKey: deleting the admin key an operator signed
// in with ends the sessions made with it.
func TestSessionEndsWithAdminKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key, token := hook.NewAPIKey("", time.Now())
	if err := e.store.CreateAPIKey(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signIn(token)
	if code, body := b.get("/ui/tenants"); code != http.StatusOK || !strings.Contains(body, "acme") {
		t.Fatalf("signed in: %d", code)
	}
	if err := e.store.DeleteAPIKey(context.Background(), "", key.ID); err != nil {
		t.Fatal(err)
	}
	if _, body := b.get("/ui/tenants"); strings.Contains(body, "acme") {
		t.Error("the session outlived the deletion of its admin key")
	}
}
