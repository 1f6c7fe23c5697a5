package webhook_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/webhook"
)

const (
	specSecret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specSigningKey = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
	specPublicKey  = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
)

func b64(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n)) }

func TestParseSecret(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, in string
		wantLen  int    // when valid
		wantErr  string // part of the message, when invalid
	}{
		{"spec vector", specSecret, 24, ""},
		{"32 bytes", "whsec_" + b64(32), 32, ""},
		{"64 bytes", "whsec_" + b64(64), 64, ""},
		{"unpadded", "whsec_" + strings.TrimRight(b64(32), "="), 32, ""},
		{"empty", "", 0, "secret is empty"},
		{"prefix only", "whsec_", 0, `nothing after "whsec_"`},
		{"no prefix", b64(32), 0, `must start with "whsec_"`},
		{"public key", specPublicKey, 0, "got a whpk_ public key"},
		{"not base64", "whsec_not*base64", 0, "not valid standard base64"},
		{"url-safe base64", "whsec_" + strings.Repeat("_-", 16), 0, "not valid standard base64"},
		{"23 bytes", "whsec_" + b64(23), 0, "23 bytes, want 24 to 64"},
		{"65 bytes", "whsec_" + b64(65), 0, "65 bytes, want 24 to 64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := webhook.ParseSecret(tt.in)
			if tt.wantErr == "" {
				if err != nil || len(got) != tt.wantLen {
					t.Fatalf("ParseSecret(%q) = %d bytes, %v; want %d bytes, nil", tt.in, len(got), err, tt.wantLen)
				}
				return
			}
			if !errors.Is(err, webhook.ErrInvalidKey) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseSecret(%q) error = %v; want ErrInvalidKey saying %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, b := webhook.NewSecret(), webhook.NewSecret()
	if a == b {
		t.Fatalf("NewSecret returned %q twice", a)
	}
	key, err := webhook.ParseSecret(a)
	if err != nil {
		t.Fatalf("ParseSecret(NewSecret()): %v", err)
	}
	if len(key) != 32 {
		t.Errorf("NewSecret key = %d bytes, want 32", len(key))
	}
	if !strings.HasSuffix(a, "=") {
		t.Errorf("NewSecret() = %q, want padded standard base64", a)
	}
}

func TestSigningKeys(t *testing.T) {
	t.Parallel()
	got, err := webhook.PublicKey(specSigningKey)
	if err != nil || got != specPublicKey {
		t.Fatalf("PublicKey(spec key) = %q, %v; want %q", got, err, specPublicKey)
	}

	sk := webhook.NewSigningKey()
	priv, err := webhook.ParseSigningKey(sk)
	if err != nil {
		t.Fatalf("ParseSigningKey(NewSigningKey()): %v", err)
	}
	pk, err := webhook.PublicKey(sk)
	if err != nil {
		t.Fatalf("PublicKey(NewSigningKey()): %v", err)
	}
	pub, err := webhook.ParsePublicKey(pk)
	if err != nil {
		t.Fatalf("ParsePublicKey(PublicKey(NewSigningKey())): %v", err)
	}
	if !pub.Equal(priv.Public()) {
		t.Errorf("public key %q does not belong to signing key", pk)
	}
	if sk == webhook.NewSigningKey() {
		t.Errorf("NewSigningKey returned %q twice", sk)
	}
}

func TestParseSigningKeyErrors(t *testing.T) {
	t.Parallel()
	_, other, _ := ed25519.GenerateKey(nil)
	spec, _ := webhook.ParseSigningKey(specSigningKey)
	mismatched := append(append([]byte{}, spec[:32]...), other[32:]...)
	for _, tt := range []struct{ name, in, wantErr string }{
		{"empty", "", "signing key is empty"},
		{"secret", specSecret, "got a whsec_ secret"},
		{"public key", specPublicKey, "got a whpk_ public key"},
		{"seed only", "whsk_" + base64.StdEncoding.EncodeToString(spec[:32]), "32 bytes, want 64"},
		{"halves of two keys", "whsk_" + base64.StdEncoding.EncodeToString(mismatched), "does not match its seed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhook.ParseSigningKey(tt.in)
			if !errors.Is(err, webhook.ErrInvalidKey) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseSigningKey(%q) error = %v; want ErrInvalidKey saying %q", tt.in, err, tt.wantErr)
			}
			if _, err := webhook.PublicKey(tt.in); !errors.Is(err, webhook.ErrInvalidKey) {
				t.Errorf("PublicKey(%q) error = %v; want ErrInvalidKey", tt.in, err)
			}
		})
	}
}

func TestParsePublicKeyErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, in, wantErr string }{
		{"empty", "", "public key is empty"},
		{"prefix only", "whpk_", `nothing after "whpk_"`},
		{"signing key", specSigningKey, "got a whsk_ signing key"},
		{"short", "whpk_" + b64(31), "31 bytes, want 32"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhook.ParsePublicKey(tt.in)
			if !errors.Is(err, webhook.ErrInvalidKey) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParsePublicKey(%q) error = %v; want ErrInvalidKey saying %q", tt.in, err, tt.wantErr)
			}
		})
	}
}
