package webhook_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// FuzzVerify feeds arbitrary header values to Verify. It must not panic,
// must fail with one of the exported errors, and may pass only when a
// header holds the genuine signature of what was sent.
func FuzzVerify(f *testing.F) {
	for _, v := range loadVectors(f) {
		sig, x := v.Value, ""
		if v.Scheme == webhook.SchemeXSignature {
			sig, x = "", v.Value
		}
		f.Add(v.ID, strconv.FormatInt(v.Timestamp, 10), sig, x, []byte(v.Body))
	}
	f.Add(v1ID, "1614265330", "v1,bad v2,x v1,"+v1Sig, "", []byte(v1Body))
	f.Add(v1ID, "1614265330", "v1, v1a,", "t=,v1=,t=", []byte{})
	f.Add("", "", "", "t=1614265330,v1="+xSig+",v1=zz", []byte(v1Body))
	verifier, err := webhook.NewVerifier([]string{specSecret, specPublicKey}, at(v1TS))
	if err != nil {
		f.Fatal(err)
	}
	sentinels := []error{webhook.ErrMissingHeader, webhook.ErrMalformedHeader,
		webhook.ErrNoMatchingSignature, webhook.ErrTimestampTooOld, webhook.ErrTimestampTooNew}
	f.Fuzz(func(t *testing.T, id, ts, sig, x string, body []byte) {
		h := http.Header{}
		for name, v := range map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig, "X-Signature": x} {
			if v != "" {
				h.Set(name, v)
			}
		}
		err := verifier.Verify(h, body)
		if err != nil {
			if !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
				t.Fatalf("Verify error %q wraps none of the exported errors", err)
			}
			return
		}
		if sig != "" {
			if !holdsStandard(sig, id, ts, body) {
				t.Fatalf("Verify passed webhook-signature %q for id %q, timestamp %q, body %q", sig, id, ts, body)
			}
		} else if !holdsX(x, body) {
			t.Fatalf("Verify passed X-Signature %q for body %q", x, body)
		}
	})
}

// holdsStandard reports whether sig has an entry that the spec keys made
// over (id, ts, body), computed here independently of the package.
func holdsStandard(sig, id, ts string, body []byte) bool {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(specSecret, "whsec_"))
	seed, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(specSigningKey, "whsk_"))
	msg := slices.Concat([]byte(id+"."+ts+"."), body)
	want := []string{
		"v1," + base64.StdEncoding.EncodeToString(hmacSHA256([]byte(key), msg)),
		"v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(ed25519.NewKeyFromSeed(seed[:32]), msg)),
	}
	return slices.ContainsFunc(strings.Fields(sig), func(e string) bool { return slices.Contains(want, e) })
}

// holdsX reports whether the X-Signature value x has a v1 entry that the spec
// secret made over its own t and body.
func holdsX(x string, body []byte) bool {
	var ts string
	for f := range strings.SplitSeq(x, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(f), "t="); ok {
			ts = v
		}
	}
	want := hmacSHA256([]byte(specSecret), slices.Concat([]byte(ts+"."), body))
	for f := range strings.SplitSeq(x, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(f), "v1="); ok {
			if got, err := hex.DecodeString(v); err == nil && bytes.Equal(got, want) {
				return true
			}
		}
	}
	return false
}

// FuzzSignVerify signs arbitrary content with keys made from the fuzzer's
// bytes, in every scheme: what is signed must verify, and must stop
// verifying when the body changes.
func FuzzSignVerify(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef"), "evt_981", int64(1778235300), []byte(`{"id":"evt_981"}`), uint8(0))
	f.Add([]byte{}, "msg_p5jXN8AQM9LWM0D4loKWxJek", int64(0), []byte{}, uint8(1))
	f.Add(bytes.Repeat([]byte{0xff}, 70), "a-b_c", int64(1<<40), []byte("\x00\n."), uint8(2))
	f.Fuzz(func(t *testing.T, keyBytes []byte, id string, ts int64, body []byte, schemeN uint8) {
		scheme, signing, verifying := fuzzKeys(keyBytes, schemeN)
		s, err := webhook.NewSigner(scheme, signing)
		if err != nil {
			t.Fatalf("NewSigner(%s, %s): %v", scheme, signing, err)
		}
		h, err := s.Sign(id, time.Unix(ts, 0), body)
		if err != nil {
			if ts < 0 || errors.Is(err, webhook.ErrInvalidID) {
				return
			}
			t.Fatalf("Sign(%q, %d): %v", id, ts, err)
		}
		v, err := webhook.NewVerifier([]string{verifying}, at(ts))
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(h, body); err != nil {
			t.Fatalf("Verify(Sign(%q, %d, %q)) in scheme %s: %v", id, ts, body, scheme, err)
		}
		if err := v.Verify(h, append(slices.Clip(body), '.')); !errors.Is(err, webhook.ErrNoMatchingSignature) {
			t.Fatalf("Verify with a byte appended to the body = %v, want ErrNoMatchingSignature", err)
		}
	})
}

// fuzzKeys makes a valid key pair of a scheme chosen by n from any bytes.
func fuzzKeys(b []byte, n uint8) (scheme webhook.Scheme, signing, verifying string) {
	b = append(slices.Clip(b), make([]byte, 64)...)
	switch n % 3 {
	case 0, 2:
		size := 24 + int(n)%41 // 24 to 64 bytes
		secret := "whsec_" + base64.StdEncoding.EncodeToString(b[:size])
		if n%3 == 2 {
			return webhook.SchemeXSignature, secret, secret
		}
		return webhook.SchemeStandard, secret, secret
	default:
		priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		return webhook.SchemeEd25519,
			"whsk_" + base64.StdEncoding.EncodeToString(priv),
			"whpk_" + base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	}
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}
