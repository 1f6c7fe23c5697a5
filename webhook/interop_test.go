package webhook_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/webhook"
)

// The Standard Webhooks reference library is an implementation we did not
// write; signatures must cross between it and ours in both directions. It
// knows only v1, and reads its clock itself, so these tests sign at the
// current time.

func TestInteropOursToReference(t *testing.T) {
	t.Parallel()
	for i := range 20 {
		secret := webhook.NewSecret()
		body := fmt.Appendf(nil, `{"n":%d,"text":"caf\u00e9 . \n"}`, i)
		s, err := webhook.NewSigner(webhook.SchemeStandard, webhook.NewSecret(), secret)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Sign(fmt.Sprintf("evt_%d", i), time.Now(), body)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := ref.Verify(body, h); err != nil {
			t.Errorf("reference Verify of our %s: %v", h.Get("webhook-signature"), err)
		}
		if err := ref.Verify(append(body, ' '), h); err == nil {
			t.Errorf("reference Verify of our signature over another body = nil, want an error")
		}
	}
}

func TestInteropReferenceToOurs(t *testing.T) {
	t.Parallel()
	for i := range 20 {
		secret := webhook.NewSecret()
		ref, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		id, now := fmt.Sprintf("msg_%d", i), time.Now()
		body := fmt.Appendf(nil, `{"n":%d}`, i)
		sig, err := ref.Sign(id, now, body)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(standardwebhooks.HeaderWebhookID, id)
		h.Set(standardwebhooks.HeaderWebhookTimestamp, fmt.Sprint(now.Unix()))
		h.Set(standardwebhooks.HeaderWebhookSignature, sig)
		if err := webhook.Verify(h, body, []string{secret}); err != nil {
			t.Errorf("our Verify of the reference's %s: %v", sig, err)
		}
		// And what our signer makes for the same input is the same string.
		s, _ := webhook.NewSigner(webhook.SchemeStandard, secret)
		ours, _ := s.Sign(id, now, body)
		if got := ours.Get("webhook-signature"); got != sig {
			t.Errorf("our signature %s, reference %s", got, sig)
		}
	}
}

// TestInteropVectors has the reference library check the v1 vectors; its
// Verify would reject their old timestamps, so it ignores them.
func TestInteropVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		if v.Scheme != webhook.SchemeStandard {
			continue // the reference knows neither v1a nor X-Signature
		}
		ref, err := standardwebhooks.NewWebhook(v.VerifyingKeys[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := ref.VerifyIgnoringTimestamp([]byte(v.Body), v.headers()); err != nil {
			t.Errorf("%s: reference library: %v", v.Name, err)
		}
	}
}
