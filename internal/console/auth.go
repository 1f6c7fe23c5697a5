package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// Cookie names. Every cookie is scoped to /ui/, HttpOnly and SameSite=Lax,
// and Secure when the public URL is https.
const (
	cookieSession = "herald_session"
	cookieLogin   = "herald_login" // the sign-in form's CSRF nonce
	cookieFlash   = "herald_flash"
	loginTTL      = time.Hour
	flashTTL      = time.Minute
)

func (c *Console) setCookie(w http.ResponseWriter, name, value string, expires time.Time) {
	ck := &http.Cookie{
		Name: name, Value: value, Path: "/ui/", HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteLaxMode,
	}
	if expires.IsZero() {
		ck.MaxAge = -1 // delete
	} else {
		ck.Expires = expires.UTC()
		ck.MaxAge = max(1, int(expires.Sub(c.now()).Seconds()))
	}
	http.SetCookie(w, ck)
}

// session returns the request's valid session, or nil. An operator's
// session is valid only while the admin key it began with exists, so that
// deleting the key ends every session made with it.
func (c *Console) session(r *http.Request) *session {
	ck, err := r.Cookie(cookieSession)
	if err != nil {
		return nil
	}
	var s session
	if verify(c.keys.session, ck.Value, c.now(), &s) != nil || s.ID == "" {
		return nil
	}
	if !s.Portal() && !c.adminKeyExists(r.Context(), s.Key) {
		return nil
	}
	return &s
}

// adminKeyExists reports whether the admin key id exists; when the store
// cannot tell, it does not.
func (c *Console) adminKeyExists(ctx context.Context, id string) bool {
	if id == "" {
		return false
	}
	p := hook.ListParams{Limit: hook.MaxLimit}
	for {
		page, err := c.cfg.Store.ListAPIKeys(ctx, "", p)
		if err != nil {
			c.log.WarnContext(ctx, "console: check the session's admin key", "err", err)
			return false
		}
		for _, k := range page.Items {
			if k.ID == id {
				return true
			}
		}
		if page.Next == "" {
			return false
		}
		p.Cursor = page.Next
	}
}

// startSession sets the cookie of a new session.
func (c *Console) startSession(w http.ResponseWriter, s session) {
	s.ID = randomID()
	c.setCookie(w, cookieSession, sign(c.keys.session, &s), time.Unix(s.Expires, 0))
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if s := c.session(r); s != nil {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, "")
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	nonce := randomID()
	c.setCookie(w, cookieLogin, nonce, c.now().Add(loginTTL))
	c.render(w, r, nil, status, "login", struct{ Token, Error string }{c.keys.loginToken(nonce), msg})
}

// login checks the admin key the way the API does (by its hash, compared
// in constant time by the store) and starts an operator session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.renderLogin(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	ck, err := r.Cookie(cookieLogin)
	if err != nil || !checkToken(r.PostForm.Get("csrf"), c.keys.loginToken(ck.Value)) {
		c.renderLogin(w, r, http.StatusForbidden, "The form has expired or has no valid CSRF token. Try again.")
		return
	}
	token := r.PostForm.Get("key")
	key, err := c.cfg.Store.APIKeyByHash(r.Context(), hook.HashToken(token))
	switch {
	case errors.Is(err, hook.ErrNotFound) || err == nil && !key.Admin():
		c.renderLogin(w, r, http.StatusUnauthorized, "That is not an admin key.")
		return
	case err != nil:
		c.fail(w, r, nil, err)
		return
	}
	if err := c.cfg.Store.TouchAPIKey(r.Context(), key.ID, c.now()); err != nil {
		c.log.WarnContext(r.Context(), "console: record admin key use", "key", key.ID, "err", err)
	}
	c.setCookie(w, cookieLogin, "", time.Time{})
	c.startSession(w, session{Key: key.ID, Expires: c.now().Add(c.cfg.SessionTTL).Unix()})
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// logout ends the session by clearing its cookie. The cookie is signed and
// expiring, not stored, so a copy taken before sign-out stays valid until
// it expires.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	s := c.session(r)
	if s != nil {
		if r.ParseForm() != nil || !checkToken(r.PostForm.Get("csrf"), c.keys.csrfToken(s.ID)) {
			c.fail(w, r, s, &pageError{http.StatusForbidden, "The form has no valid CSRF token. Reload the page and try again."})
			return
		}
	}
	c.setCookie(w, cookieSession, "", time.Time{})
	if s != nil && s.Portal() {
		c.render(w, r, nil, http.StatusOK, "error", errView{http.StatusOK, "You have left the portal. Open a new link to come back."})
		return
	}
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// PortalLink returns a signed link that starts a portal session of the
// tenant, valid for ttl (DefaultLinkTTL when zero), and when it expires.
func (c *Console) PortalLink(tenantID string, ttl time.Duration, readOnly bool) (string, time.Time) {
	if ttl <= 0 {
		ttl = DefaultLinkTTL
	}
	exp := c.now().Add(ttl).Truncate(time.Second)
	token := sign(c.keys.link, &link{Tenant: tenantID, ReadOnly: readOnly, Expires: exp.Unix(), Nonce: randomID()})
	return c.cfg.PublicURL + "/ui/portal?token=" + url.QueryEscape(token), exp
}

// openPortal checks a portal link and starts the tenant's portal session.
// A browser that has a session of someone else (the operator, or another
// tenant's portal) is asked first, with a form of that session: a link
// alone, which any page can make a browser open, never replaces a session.
func (c *Console) openPortal(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	l, ok := c.portalLink(w, r, token)
	if !ok {
		return
	}
	if s := c.session(r); s != nil && s.Tenant != l.Tenant {
		c.render(w, r, s, http.StatusOK, "portal-switch", struct{ Token, Tenant string }{token, l.Tenant})
		return
	}
	c.startPortal(w, r, l)
}

// switchPortal starts the portal session of a link in place of the
// browser's session, when its user said so on the form openPortal showed.
func (c *Console) switchPortal(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	s := c.session(r)
	if r.ParseForm() != nil || s == nil || !checkToken(r.PostForm.Get("csrf"), c.keys.csrfToken(s.ID)) {
		c.fail(w, r, s, &pageError{http.StatusForbidden, "The form has no valid CSRF token. Open the link again."})
		return
	}
	if l, ok := c.portalLink(w, r, r.PostForm.Get("token")); ok {
		c.startPortal(w, r, l)
	}
}

// portalLink checks a portal link's token and its tenant, answering the
// request itself when they are not valid.
func (c *Console) portalLink(w http.ResponseWriter, r *http.Request, token string) (link, bool) {
	var l link
	err := verify(c.keys.link, token, c.now(), &l)
	switch {
	case errors.Is(err, errExpired):
		c.fail(w, r, nil, &pageError{http.StatusForbidden, "This portal link has expired. Ask for a new one."})
		return l, false
	case err != nil || !hook.ValidID(l.Tenant) || l.Tenant == hook.OperationalTenant:
		c.fail(w, r, nil, &pageError{http.StatusForbidden, "This portal link is not valid."})
		return l, false
	}
	if _, err := c.cfg.Store.Tenant(r.Context(), l.Tenant); err != nil {
		if errors.Is(err, hook.ErrNotFound) {
			c.fail(w, r, nil, &pageError{http.StatusForbidden, "This portal link is not valid."})
			return l, false
		}
		c.fail(w, r, nil, err)
		return l, false
	}
	return l, true
}

// startPortal starts the portal session of a valid link. It ends when the
// link expires, if that comes before the portal session's own time.
func (c *Console) startPortal(w http.ResponseWriter, r *http.Request, l link) {
	exp := min(c.now().Add(c.cfg.PortalSessionTTL).Unix(), l.Expires)
	c.startSession(w, session{Tenant: l.Tenant, ReadOnly: l.ReadOnly, Expires: exp})
	http.Redirect(w, r, "/ui/tenants/"+url.PathEscape(l.Tenant), http.StatusSeeOther)
}

func (c *Console) setFlash(w http.ResponseWriter, msg string) {
	exp := c.now().Add(flashTTL)
	c.setCookie(w, cookieFlash, sign(c.keys.flash, &flash{Msg: msg, Expires: exp.Unix()}), exp)
}

// takeFlash returns the confirmation left by the last action, and clears it.
func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request) string {
	ck, err := r.Cookie(cookieFlash)
	if err != nil {
		return ""
	}
	c.setCookie(w, cookieFlash, "", time.Time{})
	var f flash
	if verify(c.keys.flash, ck.Value, c.now(), &f) != nil {
		return ""
	}
	return f.Msg
}
