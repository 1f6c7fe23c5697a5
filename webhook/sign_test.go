package webhook_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

func TestNewSignerErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		scheme webhook.Scheme
		keys   []string
		detail string
	}{
		{"no keys", webhook.SchemeStandard, nil, "at least one key"},
		{"unknown scheme", "hmac", []string{specSecret}, `unknown signature scheme "hmac"`},
		{"standard with signing key", webhook.SchemeStandard, []string{specSigningKey}, "got a whsk_ signing key"},
		{"ed25519 with secret", webhook.SchemeEd25519, []string{specSigningKey, specSecret}, `key 2 of 2 for scheme "ed25519"`},
		{"ed25519 with public key", webhook.SchemeEd25519, []string{specPublicKey}, "got a whpk_ public key"},
		{"x-signature with empty key", webhook.SchemeXSignature, []string{""}, "secret is empty"},
		{"x-signature with raw string", webhook.SchemeXSignature, []string{"not-a-secret"}, `must start with "whsec_"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhook.NewSigner(tt.scheme, tt.keys...)
			if err == nil || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("NewSigner error = %v, want one saying %q", err, tt.detail)
			}
		})
	}
}

func TestSignInvalidID(t *testing.T) {
	t.Parallel()
	s, err := webhook.NewSigner(webhook.SchemeStandard, specSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "evt.1", "evt 1", "evt\n1", "évt", strings.Repeat("a", 256)} {
		if _, err := s.Sign(id, time.Unix(v1TS, 0), nil); !errors.Is(err, webhook.ErrInvalidID) {
			t.Errorf("Sign(%q) error = %v, want ErrInvalidID", id, err)
		}
	}
	if _, err := s.Sign(strings.Repeat("a", 255), time.Unix(v1TS, 0), nil); err != nil {
		t.Errorf("Sign(255 characters) error = %v, want nil", err)
	}
	if _, err := s.Sign("evt_1", time.Unix(-1, 0), nil); err == nil {
		t.Errorf("Sign at 1969 = nil error, want one")
	}
}

// TestSignVerify signs with fresh keys of every scheme, several at once,
// and verifies with each key alone.
func TestSignVerify(t *testing.T) {
	t.Parallel()
	sk1, sk2 := webhook.NewSigningKey(), webhook.NewSigningKey()
	pk1, _ := webhook.PublicKey(sk1)
	pk2, _ := webhook.PublicKey(sk2)
	sec1, sec2 := webhook.NewSecret(), webhook.NewSecret()
	for _, tt := range []struct {
		scheme  webhook.Scheme
		signing []string
		verify  []string
	}{
		{webhook.SchemeStandard, []string{sec1, sec2}, []string{sec1, sec2}},
		{webhook.SchemeEd25519, []string{sk1, sk2}, []string{pk1, pk2}},
		{webhook.SchemeXSignature, []string{sec1, sec2}, []string{sec1, sec2}},
	} {
		t.Run(string(tt.scheme), func(t *testing.T) {
			t.Parallel()
			s, err := webhook.NewSigner(tt.scheme, tt.signing...)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Scheme(); got != tt.scheme {
				t.Errorf("Scheme() = %q, want %q", got, tt.scheme)
			}
			now := time.Now()
			body := []byte(`{"id":"evt_1"}`)
			h, err := s.Sign("evt_1", now, body)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.verify {
				if err := webhook.Verify(h, body, []string{k}); err != nil {
					t.Errorf("Verify with %s: %v, want nil", k[:5], err)
				}
			}
			if err := webhook.Verify(h, []byte(`{"id":"evt_2"}`), tt.verify); !errors.Is(err, webhook.ErrNoMatchingSignature) {
				t.Errorf("Verify other body = %v, want ErrNoMatchingSignature", err)
			}
			if got := h.Get("webhook-id"); got != "evt_1" {
				t.Errorf("webhook-id = %q, want evt_1", got)
			}
			var entries int
			if tt.scheme == webhook.SchemeXSignature {
				entries = strings.Count(h.Get("X-Signature"), "v1=")
			} else {
				entries = len(strings.Fields(h.Get("webhook-signature")))
			}
			if entries != 2 {
				t.Errorf("signature entries = %d, want 2 (one per key)", entries)
			}
		})
	}
}

// TestSignReusesState signs with one Signer many times at once, as the
// dispatcher does with an endpoint's: its pooled HMAC states must give
// every request the signature a new Signer gives it.
func TestSignReusesState(t *testing.T) {
	t.Parallel()
	for _, scheme := range []webhook.Scheme{webhook.SchemeStandard, webhook.SchemeXSignature} {
		keys := []string{webhook.NewSecret(), webhook.NewSecret()}
		shared, err := webhook.NewSigner(scheme, keys...)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(1765000000, 0)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for j := range 50 {
					id := fmt.Sprintf("evt_%d_%d", i, j)
					body := []byte(strings.Repeat("x", i*100+j))
					got, err := shared.Sign(id, at, body)
					if err != nil {
						t.Error(err)
						return
					}
					fresh, _ := webhook.NewSigner(scheme, keys...)
					want, _ := fresh.Sign(id, at, body)
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s: Sign(%s) = %v, want %v", scheme, id, got, want)
						return
					}
				}
			})
		}
		wg.Wait()
	}
}
