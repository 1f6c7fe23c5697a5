// Package console serves Herald's web console under /ui/: pages rendered on
// the server for operators (signed in with the admin key) and, through
// signed portal links, for one tenant at a time. It reads and acts through
// hook.Store, as the JSON API does.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults of Config.
const (
	DefaultSessionTTL       = 12 * time.Hour
	DefaultPortalSessionTTL = time.Hour
	DefaultLinkTTL          = time.Hour
	// MaxLinkTTL bounds the life of a portal link.
	MaxLinkTTL = 7 * 24 * time.Hour
)

// TestSender sends one signed request to an endpoint and returns the
// attempt without recording it (*dispatch.Dispatcher is one).
type TestSender interface {
	SendTest(ctx context.Context, ep hook.Endpoint, ev hook.Event) (hook.Attempt, error)
}

// Config is what the console needs. Store and SecretKey are required.
type Config struct {
	Store hook.Store
	// SecretKey is the server's secret key material; the console derives
	// its own keys from it with HKDF, so sessions and links made by one
	// node are accepted by every node that shares the key.
	SecretKey []byte
	// PublicURL prefixes portal links; an https URL makes cookies Secure.
	PublicURL string
	// FrameAncestors are the origins that may frame console pages; none
	// means framing is refused.
	FrameAncestors []string
	TestSender     TestSender                                   // nil: "send a test event" is unavailable
	Announce       func(ctx context.Context, op hook.Operation) // nil: changes are not announced
	Circuit        func(endpointID string) string               // an endpoint's circuit state here (dispatch.Dispatcher.Circuit); nil: no dispatcher in this process
	Now            func() time.Time                             // nil: time.Now
	Logger         *slog.Logger                                 // nil: discard
	// SessionTTL is how long an operator session lasts; zero means
	// DefaultSessionTTL. PortalSessionTTL is the same for a session begun
	// from a portal link; zero means DefaultPortalSessionTTL.
	SessionTTL, PortalSessionTTL time.Duration
}

// Console is the http.Handler of /ui/.
type Console struct {
	cfg    Config
	keys   keys
	secure bool
	csp    string // every page's policy: no framing
	// portalCSP is the portal's: framing by --frame-ancestors, if any.
	portalCSP string
	pages     map[string]*template.Template
	mux       *http.ServeMux
	log       *slog.Logger
}

// New returns the console for cfg.
func New(cfg Config) (*Console, error) {
	if cfg.Store == nil {
		return nil, errors.New("console: Config.Store is required")
	}
	k, err := deriveKeys(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	for _, o := range cfg.FrameAncestors {
		if err := CheckOrigin(o); err != nil {
			return nil, fmt.Errorf("console: frame ancestor %w", err)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.PortalSessionTTL <= 0 {
		cfg.PortalSessionTTL = DefaultPortalSessionTTL
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	c := &Console{
		cfg: cfg, keys: k, secure: len(cfg.PublicURL) >= 8 && strings.EqualFold(cfg.PublicURL[:8], "https://"),
		mux: http.NewServeMux(), log: cfg.Logger,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	c.portalCSP = c.csp
	if len(cfg.FrameAncestors) > 0 {
		c.portalCSP = strings.TrimSuffix(c.csp, "'none'") + strings.Join(cfg.FrameAncestors, " ")
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// CheckOrigin checks that o is an origin a frame-ancestors list may name:
// scheme://host[:port], with no path.
func CheckOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil ||
		strings.ContainsAny(o, " ;,'\"") {
		return fmt.Errorf("%q is not an origin such as https://app.example.com", o)
	}
	return nil
}

func (c *Console) now() time.Time { return hook.Timestamp(c.cfg.Now()) }

// ServeHTTP serves one request under /ui/. Every answer forbids framing
// and caching; only the portal (a portal link, or a portal session's
// pages) may be framed by the origins of --frame-ancestors, never the
// operator's console or its sign-in.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if c.portalCSP != c.csp && c.framable(r) {
		h.Set("Content-Security-Policy", c.portalCSP)
	} else {
		h.Set("Content-Security-Policy", c.csp)
		h.Set("X-Frame-Options", "DENY")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

// framable reports whether r is for the portal: a portal link, or a
// request of a portal session.
func (c *Console) framable(r *http.Request) bool {
	if r.URL.Path == "/ui/portal" {
		return true
	}
	s := c.session(r)
	return s != nil && s.Portal()
}

// routes lists every page and action of the console.
func (c *Console) routes() {
	m := c.mux
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", cacheStatic(http.FileServerFS(static))))
	m.HandleFunc("GET /ui/login", c.loginPage)
	m.HandleFunc("POST /ui/login", c.login)
	m.HandleFunc("POST /ui/logout", c.logout)
	m.HandleFunc("GET /ui/portal", c.openPortal)
	m.HandleFunc("POST /ui/portal", c.switchPortal)

	m.Handle("GET /ui/{$}", c.page(c.overview))
	m.Handle("GET /ui/tenants", c.page(c.tenants))
	m.Handle("GET /ui/tenants/{id}", c.page(c.tenant))
	m.Handle("GET /ui/tenants/{id}/new-endpoint", c.page(c.newEndpoint))
	m.Handle("GET /ui/endpoints/{id}", c.page(c.endpoint))
	m.Handle("GET /ui/endpoints/{id}/edit", c.page(c.editEndpoint))
	m.Handle("GET /ui/deliveries/{id}", c.page(c.delivery))

	m.Handle("POST /ui/tenants/{id}/endpoints", c.action(c.createEndpoint))
	m.Handle("POST /ui/endpoints/{id}/edit", c.action(c.updateEndpoint))
	m.Handle("POST /ui/endpoints/{id}/delete", c.action(c.deleteEndpoint))
	m.Handle("POST /ui/endpoints/{id}/secret", c.action(c.revealSecret))
	m.Handle("POST /ui/endpoints/{id}/rotate-secret", c.action(c.rotateSecret))
	m.Handle("POST /ui/endpoints/{id}/disable", c.action(c.disable))
	m.Handle("POST /ui/endpoints/{id}/enable", c.action(c.enable))
	m.Handle("POST /ui/endpoints/{id}/test", c.action(c.test))
	m.Handle("POST /ui/endpoints/{id}/recover", c.action(c.recoverEndpoint))
	m.Handle("POST /ui/deliveries/{id}/retry", c.action(c.retry))
	m.Handle("POST /ui/events/{id}/replay", c.action(c.replay))
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, errNotFound("no page here"))
	})
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// pageFunc serves a page for a session; it returns the template name and
// its data, or an error.
type pageFunc func(r *http.Request, s *session) (string, any, error)

// actionFunc performs a form's action for a session and returns where to
// go next and the confirmation to show there, or a page to render (when
// the action shows something, such as a revealed secret).
type actionFunc func(r *http.Request, s *session) (result, error)

type result struct {
	redirect, flash string
	tmpl            string // when set, render this page instead of redirecting
	data            any
}

// page wraps a pageFunc: without a valid session the answer is the sign-in
// page (303 to it).
func (c *Console) page(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		}
		name, data, err := fn(r, s)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		c.render(w, r, s, http.StatusOK, name, data)
	})
}

// maxForm bounds a form body.
const maxForm = 64 << 10

// action wraps an actionFunc: it needs a session, the session's CSRF token
// in the form, and a session that is not read-only.
func (c *Console) action(fn actionFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		s := c.session(r)
		if s == nil {
			c.fail(w, r, nil, &pageError{http.StatusUnauthorized, "Your session has ended. Sign in again."})
			return
		}
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, s, &pageError{http.StatusBadRequest, "The form could not be read."})
			return
		}
		if !checkToken(r.PostForm.Get("csrf"), c.keys.csrfToken(s.ID)) {
			c.fail(w, r, s, &pageError{http.StatusForbidden, "The form has no valid CSRF token. Reload the page and try again."})
			return
		}
		if s.ReadOnly {
			c.fail(w, r, s, &pageError{http.StatusForbidden, "This portal link is read-only."})
			return
		}
		res, err := fn(r, s)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		if res.tmpl != "" {
			c.render(w, r, s, http.StatusOK, res.tmpl, res.data)
			return
		}
		if res.flash != "" {
			c.setFlash(w, res.flash)
		}
		http.Redirect(w, r, res.redirect, http.StatusSeeOther)
	})
}

// pageError is an error whose message is shown to the viewer.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

func errNotFound(format string, args ...any) error {
	return &pageError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func errInvalid(format string, args ...any) error {
	return &pageError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// fail renders an error page. Internal errors are logged and shown as a
// generic message.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	pe, ok := errors.AsType[*pageError](err)
	if !ok {
		var ve *hook.ValidationError
		if errors.As(err, &ve) {
			pe = &pageError{http.StatusBadRequest, ve.Error()}
		} else {
			c.log.ErrorContext(r.Context(), "console", "path", r.URL.Path, "err", err)
			pe = &pageError{http.StatusInternalServerError, "Herald could not complete the request; the error has been logged."}
		}
	}
	c.render(w, r, s, pe.status, "error", errView{pe.status, pe.msg})
}

// errView is the data of the error page.
type errView struct {
	Status int
	Msg    string
}
