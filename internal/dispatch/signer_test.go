package dispatch

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/webhook"
)

// TestGateSigner checks that a gate keeps its endpoint's signer while the
// keys valid at each attempt stay the same, and makes a new one when they
// or the scheme change.
func TestGateSigner(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	a, b := webhook.NewSecret(), webhook.NewSecret()
	rotated := []hook.Secret{{Key: b}, {Key: a, ExpiresAt: now.Add(time.Hour)}}
	g := &gate{}
	steps := []struct {
		name    string
		scheme  string
		secrets []hook.Secret
		at      time.Time
		keys    []string // the keys the signer must sign with
		kept    bool     // the signer of the step before
	}{
		{"first", "standard", []hook.Secret{{Key: a}}, now, []string{a}, false},
		{"same keys", "standard", []hook.Secret{{Key: a}}, now.Add(time.Minute), []string{a}, true},
		{"rotated", "standard", rotated, now, []string{b, a}, false},
		{"rotated again", "standard", rotated, now.Add(time.Minute), []string{b, a}, true},
		{"old key expired", "standard", rotated, now.Add(2 * time.Hour), []string{b}, false},
		{"other scheme", "x-signature", []hook.Secret{{Key: b}}, now, []string{b}, false},
		{"key replaced", "x-signature", []hook.Secret{{Key: a}}, now, []string{a}, false},
	}
	var last *webhook.Signer
	for _, st := range steps {
		ep := hook.Endpoint{ID: "ep_1", SignatureScheme: hook.SignatureScheme(st.scheme), Secrets: st.secrets}
		s, err := g.signer(ep, st.at)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := s == last; got != st.kept {
			t.Errorf("%s: kept the last signer = %v, want %v", st.name, got, st.kept)
		}
		last = s
		want, err := webhook.NewSigner(webhook.Scheme(st.scheme), st.keys...)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s.Sign("evt_1", st.at, []byte(`{}`))
		wantHeader, _ := want.Sign("evt_1", st.at, []byte(`{}`))
		if g, w := got.Get(webhook.HeaderSignature)+got.Get(webhook.HeaderXSignature),
			wantHeader.Get(webhook.HeaderSignature)+wantHeader.Get(webhook.HeaderXSignature); g != w {
			t.Errorf("%s: signature %q, want %q (keys %d)", st.name, g, w, len(st.keys))
		}
	}

	// Without a gate (a test send), a signer of its own each time.
	ep := hook.Endpoint{ID: "ep_1", SignatureScheme: "standard", Secrets: []hook.Secret{{Key: a}}}
	s1, _ := (*gate)(nil).signer(ep, now)
	s2, _ := (*gate)(nil).signer(ep, now)
	if s1 == nil || s1 == s2 {
		t.Errorf("nil gate: signers %p and %p, want two", s1, s2)
	}
}
