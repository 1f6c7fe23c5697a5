package console

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Labels of the keys derived from the server's secret key. Each use has its
// own key, so a value signed for one use (a portal link) is never accepted
// for another (a session cookie).
const (
	labelSession = "herald console session v1"
	labelLink    = "herald portal link v1"
	labelCSRF    = "herald console csrf v1"
	labelFlash   = "herald console flash v1"
)

// keys are the console's signing keys.
type keys struct {
	session, link, csrf, flash []byte
}

// deriveKeys derives the console's keys from the server's secret key
// material with HKDF-SHA256, one label per use.
func deriveKeys(secret []byte) (keys, error) {
	if len(secret) < 16 {
		return keys{}, fmt.Errorf("console: the secret key is %d bytes, want at least 16", len(secret))
	}
	var k keys
	for _, d := range []struct {
		dst   *[]byte
		label string
	}{{&k.session, labelSession}, {&k.link, labelLink}, {&k.csrf, labelCSRF}, {&k.flash, labelFlash}} {
		b, err := hkdf.Key(sha256.New, secret, nil, d.label, 32)
		if err != nil {
			return keys{}, fmt.Errorf("console: derive key: %w", err)
		}
		*d.dst = b
	}
	return k, nil
}

// session is what a session cookie carries. An operator session has no
// tenant; a portal session is scoped to Tenant.
type session struct {
	ID       string `json:"sid"`
	Key      string `json:"key,omitempty"` // the admin key an operator signed in with
	Tenant   string `json:"ten,omitempty"`
	ReadOnly bool   `json:"ro,omitempty"`
	Expires  int64  `json:"exp"` // Unix seconds
}

// Portal reports whether the session is a tenant's portal session.
func (s *session) Portal() bool { return s.Tenant != "" }

// link is what a portal link carries.
type link struct {
	Tenant   string `json:"ten"`
	ReadOnly bool   `json:"ro,omitempty"`
	Expires  int64  `json:"exp"` // Unix seconds
	Nonce    string `json:"n"`
}

var errBadToken = errors.New("the token is not valid")

// sign returns v as base64url(JSON) "." base64url(HMAC-SHA256).
func sign(key []byte, v any) string {
	b, _ := json.Marshal(v) // the payloads are plain structs
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + mac(key, p)
}

// verify checks a value made by sign with key, decodes it into v and
// checks that it has not expired at now.
func verify(key []byte, token string, now time.Time, v interface{ expires() int64 }) error {
	p, m, ok := strings.Cut(token, ".")
	if !ok || len(token) > 4096 || !hmac.Equal([]byte(m), []byte(mac(key, p))) {
		return errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(b, v) != nil {
		return errBadToken
	}
	if now.Unix() >= v.expires() {
		return errExpired
	}
	return nil
}

var errExpired = errors.New("the token has expired")

func (s *session) expires() int64 { return s.Expires }
func (l *link) expires() int64    { return l.Expires }

// flash is a one-time confirmation shown on the next page.
type flash struct {
	Msg     string `json:"m"`
	Expires int64  `json:"exp"`
}

func (f *flash) expires() int64 { return f.Expires }

func mac(key []byte, s string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// csrfToken is the token every form of a session carries: an HMAC of the
// session id, which a page of another site cannot know.
func (k keys) csrfToken(sessionID string) string { return mac(k.csrf, "session:"+sessionID) }

// loginToken is the token of the sign-in form, bound to the random value of
// a short-lived cookie (a signed double submit), as no session exists yet.
func (k keys) loginToken(nonce string) string { return mac(k.csrf, "login:"+nonce) }

// checkToken compares a submitted token with the expected one in constant
// time.
func checkToken(got, want string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(want))
}

// randomID returns 128 random bits, base64url.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
