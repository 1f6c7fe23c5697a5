package webhook_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// Vector 1 of testdata/vectors.json, the specification's own, is the base of
// the failing cases.
const (
	v1ID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	v1TS   = 1614265330
	v1Body = `{"test": 2432232314}`
	v1Sig  = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	v1aSig = "hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
	xSig   = "2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964"
)

// standardHeaders returns webhook-* headers; an empty value leaves a header out.
func standardHeaders(id, ts, sig string) http.Header {
	h := http.Header{}
	for name, v := range map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig} {
		if v != "" {
			h.Set(name, v)
		}
	}
	return h
}

func TestVerifyFailures(t *testing.T) {
	t.Parallel()
	const ts = "1614265330"
	otherMAC := base64.StdEncoding.EncodeToString(make([]byte, 32))
	raw, _ := base64.StdEncoding.DecodeString(v1Sig)
	appended := base64.StdEncoding.EncodeToString(append(raw, 0))
	for _, tt := range []struct {
		name   string
		h      http.Header
		body   string
		keys   []string
		now    int64 // v1TS when 0
		want   error // nil: passes
		detail string
	}{
		{name: "valid", h: standardHeaders(v1ID, ts, "v1,"+v1Sig)},
		{name: "missing webhook-id", h: standardHeaders("", ts, "v1,"+v1Sig), want: webhook.ErrMissingHeader, detail: "webhook-id"},
		{name: "missing webhook-timestamp", h: standardHeaders(v1ID, "", "v1,"+v1Sig), want: webhook.ErrMissingHeader, detail: "webhook-timestamp"},
		{name: "missing webhook-signature", h: standardHeaders(v1ID, ts, ""), want: webhook.ErrMissingHeader, detail: "webhook-signature"},
		{name: "no headers", h: http.Header{}, want: webhook.ErrMissingHeader},
		{name: "v1 with empty value", h: standardHeaders(v1ID, ts, "v1,"), want: webhook.ErrNoMatchingSignature},
		{name: "version without comma", h: standardHeaders(v1ID, ts, "v1"), want: webhook.ErrNoMatchingSignature},
		{name: "blank signature", h: standardHeaders(v1ID, ts, "   "), want: webhook.ErrMalformedHeader},
		{name: "one byte appended to the MAC", h: standardHeaders(v1ID, ts, "v1,"+appended), want: webhook.ErrNoMatchingSignature},
		{name: "one character appended", h: standardHeaders(v1ID, ts, "v1,"+v1Sig+"A"), want: webhook.ErrNoMatchingSignature},
		{name: "wrong signature", h: standardHeaders(v1ID, ts, "v1,"+otherMAC), want: webhook.ErrNoMatchingSignature, detail: "checked 1 v1 entry against 1 whsec_ secret"},
		{name: "signature as v1a", h: standardHeaders(v1ID, ts, "v1a,"+v1Sig), want: webhook.ErrNoMatchingSignature},
		{name: "unknown version only", h: standardHeaders(v1ID, ts, "v2,"+v1Sig), want: webhook.ErrNoMatchingSignature, detail: "no v1 or v1a entry"},
		{name: "other id", h: standardHeaders(v1ID+"x", ts, "v1,"+v1Sig), want: webhook.ErrNoMatchingSignature},
		{name: "other timestamp", h: standardHeaders(v1ID, "1614265331", "v1,"+v1Sig), want: webhook.ErrNoMatchingSignature},
		{name: "other body", h: standardHeaders(v1ID, ts, "v1,"+v1Sig), body: `{"test": 2432232315}`, want: webhook.ErrNoMatchingSignature},
		{name: "other secret", h: standardHeaders(v1ID, ts, "v1,"+v1Sig), keys: []string{"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}, want: webhook.ErrNoMatchingSignature},
		{name: "public key only", h: standardHeaders(v1ID, ts, "v1,"+v1Sig), keys: []string{specPublicKey}, want: webhook.ErrNoMatchingSignature, detail: "against 0 whsec_ secrets"},
		{name: "mixed bad and good entries", h: standardHeaders(v1ID, ts, "v1,bad v2,x v1,"+v1Sig)},
		{name: "junk around the good entry", h: standardHeaders(v1ID, ts, "nocomma v1a,AAAA v1,"+v1Sig+"= v1,"+v1Sig+"  v1,x")},
		{name: "signature split over two header lines", h: func() http.Header {
			h := standardHeaders(v1ID, ts, "v1,bad")
			h.Add("webhook-signature", "v1,"+v1Sig)
			return h
		}()},
		{name: "rotated: old and new key", h: standardHeaders(v1ID, ts, "v1,"+v1Sig), keys: []string{"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", specSecret}},
		{name: "5 minutes old", h: standardHeaders(v1ID, ts, "v1,"+v1Sig), now: v1TS + 300},
		{name: "5 minutes 1 second old", h: standardHeaders(v1ID, ts, "v1,"+v1Sig), now: v1TS + 301, want: webhook.ErrTimestampTooOld, detail: "signed 5m1s ago"},
		{name: "an hour old", h: standardHeaders(v1ID, ts, "v1,"+v1Sig), now: v1TS + 3600, want: webhook.ErrTimestampTooOld},
		{name: "5 minutes ahead", h: standardHeaders(v1ID, ts, "v1,"+v1Sig), now: v1TS - 300},
		{name: "5 minutes 1 second ahead", h: standardHeaders(v1ID, ts, "v1,"+v1Sig), now: v1TS - 301, want: webhook.ErrTimestampTooNew, detail: "5m1s in the future"},
		{name: "old and wrong", h: standardHeaders(v1ID, ts, "v1,"+otherMAC), now: v1TS + 3600, want: webhook.ErrNoMatchingSignature},
		{name: "year 9999", h: standardHeaders(v1ID, "253402300799", "v1,"+v1Sig), want: webhook.ErrNoMatchingSignature},
		{name: "timestamp not a number", h: standardHeaders(v1ID, "soon", "v1,"+v1Sig), want: webhook.ErrMalformedHeader, detail: `"soon" is not an integer`},
		{name: "timestamp with fraction", h: standardHeaders(v1ID, ts+".0", "v1,"+v1Sig), want: webhook.ErrMalformedHeader},
		{name: "timestamp with sign", h: standardHeaders(v1ID, "+"+ts, "v1,"+v1Sig), want: webhook.ErrMalformedHeader},
		{name: "negative timestamp", h: standardHeaders(v1ID, "-"+ts, "v1,"+v1Sig), want: webhook.ErrMalformedHeader},
		{name: "timestamp in milliseconds overflows", h: standardHeaders(v1ID, ts+"000000000000", "v1,"+v1Sig), want: webhook.ErrMalformedHeader, detail: "out of range"},
		{name: "timestamp with spaces", h: standardHeaders(v1ID, " "+ts, "v1,"+v1Sig), want: webhook.ErrMalformedHeader},

		{name: "v1a valid", h: standardHeaders(v1ID, ts, "v1a,"+v1aSig), keys: []string{specPublicKey}},
		{name: "v1a with secret only", h: standardHeaders(v1ID, ts, "v1a,"+v1aSig), want: webhook.ErrNoMatchingSignature, detail: "1 v1a entry against 0 whpk_ public keys"},
		{name: "v1a other body", h: standardHeaders(v1ID, ts, "v1a,"+v1aSig), keys: []string{specPublicKey}, body: "{}", want: webhook.ErrNoMatchingSignature},
		{name: "v1a empty", h: standardHeaders(v1ID, ts, "v1a,"), keys: []string{specPublicKey}, want: webhook.ErrNoMatchingSignature},
		{name: "v1a and v1, both keys", h: standardHeaders(v1ID, ts, "v1,"+otherMAC+" v1a,"+v1aSig), keys: []string{specSecret, specPublicKey}},

		{name: "x-signature valid", h: xHeaders("t=1614265330,v1=" + xSig)},
		{name: "x-signature rotated", h: xHeaders("t=1614265330,v1=" + strings.Repeat("0", 64) + ",v0=abc,v1=" + xSig)},
		{name: "x-signature with spaces", h: xHeaders("t=1614265330, v1=" + xSig)},
		{name: "x-signature no t", h: xHeaders("v1=" + xSig), want: webhook.ErrMalformedHeader, detail: "no t="},
		{name: "x-signature two t", h: xHeaders("t=1614265330,t=1614265330,v1=" + xSig), want: webhook.ErrMalformedHeader, detail: "more than one t="},
		{name: "x-signature t not a number", h: xHeaders("t=now,v1=" + xSig), want: webhook.ErrMalformedHeader},
		{name: "x-signature no v1", h: xHeaders("t=1614265330,v0=" + xSig), want: webhook.ErrNoMatchingSignature},
		{name: "x-signature v1 empty", h: xHeaders("t=1614265330,v1="), want: webhook.ErrNoMatchingSignature},
		{name: "x-signature truncated", h: xHeaders("t=1614265330,v1=" + xSig[:63]), want: webhook.ErrNoMatchingSignature},
		{name: "x-signature byte appended", h: xHeaders("t=1614265330,v1=" + xSig + "00"), want: webhook.ErrNoMatchingSignature},
		{name: "x-signature other timestamp", h: xHeaders("t=1614265331,v1=" + xSig), want: webhook.ErrNoMatchingSignature},
		{name: "x-signature old", h: xHeaders("t=1614265330,v1=" + xSig), now: v1TS + 301, want: webhook.ErrTimestampTooOld},
		{name: "x-signature decoded key does not verify", h: xHeaders("t=1614265330,v1=" + xSig), keys: []string{specPublicKey}, want: webhook.ErrNoMatchingSignature},
		{name: "standard wins over x-signature", h: func() http.Header {
			h := standardHeaders(v1ID, ts, "v1,"+otherMAC)
			h.Set("X-Signature", "t=1614265330,v1="+xSig)
			return h
		}(), want: webhook.ErrNoMatchingSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := v1Body
			if tt.body != "" {
				body = tt.body
			}
			keys := tt.keys
			if keys == nil {
				keys = []string{specSecret}
			}
			now := tt.now
			if now == 0 {
				now = v1TS
			}
			err := webhook.Verify(tt.h, []byte(body), keys, at(now))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify(%v) = %v, want nil", tt.h, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify(%v) = %v, want %v", tt.h, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("Verify error = %q, want it to say %q", err, tt.detail)
			}
		})
	}
}

func xHeaders(value string) http.Header {
	return http.Header{"X-Signature": {value}}
}

// TestVerifyTruncated checks every prefix of a real signature, and of a real
// signature with bytes appended: none may pass.
func TestVerifyTruncated(t *testing.T) {
	t.Parallel()
	for _, full := range []struct {
		version, sig, key string
	}{
		{"v1", v1Sig, specSecret},
		{"v1a", v1aSig, specPublicKey},
	} {
		for n := range len(full.sig) {
			for _, sig := range []string{full.sig[:n], full.sig[:n] + "=", full.sig + full.sig[:n+1]} {
				if sig == full.sig {
					continue // a prefix plus "=" that restores the padding
				}
				h := standardHeaders(v1ID, "1614265330", full.version+","+sig)
				err := webhook.Verify(h, []byte(v1Body), []string{full.key}, at(v1TS))
				if !errors.Is(err, webhook.ErrNoMatchingSignature) {
					t.Errorf("Verify(%s,%s) = %v, want ErrNoMatchingSignature", full.version, sig, err)
				}
			}
		}
	}
	for n := range len(xSig) {
		err := webhook.Verify(xHeaders("t=1614265330,v1="+xSig[:n]), []byte(v1Body), []string{specSecret}, at(v1TS))
		if !errors.Is(err, webhook.ErrNoMatchingSignature) {
			t.Errorf("Verify(X-Signature v1=%s) = %v, want ErrNoMatchingSignature", xSig[:n], err)
		}
	}
}

func TestNewVerifierErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		keys   []string
		opts   []webhook.Option
		detail string
	}{
		{"no keys", nil, nil, "at least one key"},
		{"empty secret", []string{""}, nil, "key 1 of 1: invalid key: key is empty"},
		{"whsec_ alone", []string{"whsec_"}, nil, `nothing after "whsec_"`},
		{"second key empty", []string{specSecret, ""}, nil, "key 2 of 2"},
		{"signing key", []string{specSigningKey}, nil, "verify with its whpk_ public key"},
		{"unknown kind", []string{"sk_live_123"}, nil, `must start with "whsec_" or "whpk_"`},
		{"short secret", []string{"whsec_" + b64(16)}, nil, "16 bytes, want 24 to 64"},
		{"zero tolerance", []string{specSecret}, []webhook.Option{webhook.WithTolerance(0)}, "tolerance is 0s"},
		{"nil clock", []string{specSecret}, []webhook.Option{webhook.WithClock(nil)}, "clock is nil"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhook.NewVerifier(tt.keys, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("NewVerifier error = %v, want one saying %q", err, tt.detail)
			}
			// Verify reports the same instead of verifying anything.
			if err := webhook.Verify(standardHeaders(v1ID, "1614265330", "v1,"+v1Sig), []byte(v1Body), tt.keys, tt.opts...); err == nil {
				t.Errorf("Verify with bad keys = nil, want an error")
			}
		})
	}
}

func TestWithTolerance(t *testing.T) {
	t.Parallel()
	h := standardHeaders(v1ID, "1614265330", "v1,"+v1Sig)
	v, err := webhook.NewVerifier([]string{specSecret}, webhook.WithTolerance(time.Hour), at(v1TS+3600))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(h, []byte(v1Body)); err != nil {
		t.Errorf("an hour old with an hour's tolerance: %v, want nil", err)
	}
	v, _ = webhook.NewVerifier([]string{specSecret}, webhook.WithTolerance(time.Hour), at(v1TS+3601))
	if err := v.Verify(h, []byte(v1Body)); !errors.Is(err, webhook.ErrTimestampTooOld) {
		t.Errorf("an hour and a second old: %v, want ErrTimestampTooOld", err)
	}
}

func TestVerifyClipsEchoedValues(t *testing.T) {
	t.Parallel()
	h := standardHeaders(v1ID, strings.Repeat("x", 10000), "v1,"+v1Sig)
	err := webhook.Verify(h, []byte(v1Body), []string{specSecret})
	if !errors.Is(err, webhook.ErrMalformedHeader) || len(err.Error()) > 200 {
		t.Errorf("Verify with a 10000-byte timestamp = %q (%d bytes), want a short ErrMalformedHeader", err, len(err.Error()))
	}
}

// BenchmarkVerify verifies a request shaped like one of Herald's
// deliveries: a 1 KiB body signed with one whsec_ secret, by a Verifier
// made once, as a receiver holds one.
func BenchmarkVerify(b *testing.B) {
	secret := webhook.NewSecret()
	s, err := webhook.NewSigner(webhook.SchemeStandard, secret)
	if err != nil {
		b.Fatal(err)
	}
	v, err := webhook.NewVerifier([]string{secret})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"id":"evt_1","type":"bench.type0","createdAt":"2026-12-06T10:00:00Z","data":{"pad":"` +
		strings.Repeat("x", 1000) + `"}}`)
	h, err := s.Sign("evt_1", time.Now(), body)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := v.Verify(h, body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifierReused verifies many requests with one Verifier of two
// secrets at once, genuine and tampered ones interleaved, of bodies and ids
// of different lengths: its reused hashes carry nothing from one request
// to the next.
func TestVerifierReused(t *testing.T) {
	t.Parallel()
	old, cur := webhook.NewSecret(), webhook.NewSecret()
	v, err := webhook.NewVerifier([]string{old, cur})
	if err != nil {
		t.Fatal(err)
	}
	signers := make([]*webhook.Signer, 2)
	for i, k := range []string{old, cur} {
		if signers[i], err = webhook.NewSigner(webhook.SchemeStandard, k); err != nil {
			t.Fatal(err)
		}
	}
	other, err := webhook.NewSigner(webhook.SchemeStandard, webhook.NewSecret())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				id := "evt_" + strings.Repeat("i", w+i%7)
				body := []byte(`{"n":"` + strings.Repeat("x", i*13%300) + `"}`)
				s := signers[i%2]
				if i%3 == 0 {
					s = other
				}
				h, err := s.Sign(id, time.Now(), body)
				if err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					body = append(body, ' ')
				}
				err = v.Verify(h, body)
				if genuine := i%3 != 0 && i%5 != 0; genuine != (err == nil) {
					t.Errorf("request %d of worker %d (genuine %v): Verify = %v", i, w, genuine, err)
				}
				if err != nil && !errors.Is(err, webhook.ErrNoMatchingSignature) {
					t.Errorf("request %d of worker %d: %v, want ErrNoMatchingSignature", i, w, err)
				}
			}
		})
	}
	wg.Wait()
}
