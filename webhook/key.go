package webhook

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Key prefixes. They make a key's kind visible wherever it is pasted and let
// a trust list hold symmetric secrets and public keys side by side.
const (
	SecretPrefix     = "whsec_"
	SigningKeyPrefix = "whsk_"
	PublicKeyPrefix  = "whpk_"
)

// Secret sizes allowed by the Standard Webhooks specification. Fewer than 24
// bytes is too weak to be worth accepting; more than 64 bytes gains nothing,
// because HMAC-SHA256 hashes longer keys down to 32 bytes anyway.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
	secretBytes    = 32 // what NewSecret generates
)

// ErrInvalidKey is returned (wrapped, with the reason) by every function that
// parses a key: a secret, a signing key or a public key.
var ErrInvalidKey = errors.New("invalid key")

// NewSecret returns a new random symmetric secret: "whsec_" followed by the
// standard base64 (padded) encoding of 32 random bytes.
func NewSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails since Go 1.24; it crashes the program instead
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ParseSecret parses a "whsec_" secret and returns the HMAC key: the decoded
// bytes after the prefix, not the string itself. The decoded key must be 24
// to 64 bytes long.
func ParseSecret(s string) ([]byte, error) {
	b, err := decodeKey(s, SecretPrefix, "secret")
	if err != nil {
		return nil, err
	}
	if len(b) < MinSecretBytes || len(b) > MaxSecretBytes {
		return nil, keyError("secret is %d bytes, want %d to %d", len(b), MinSecretBytes, MaxSecretBytes)
	}
	return b, nil
}

// NewSigningKey returns a new random ed25519 signing key: "whsk_" followed by
// the base64 encoding of the 64-byte private key (seed, then public key).
func NewSigningKey() string {
	_, priv, _ := ed25519.GenerateKey(nil) // nil means crypto/rand, which cannot fail
	return SigningKeyPrefix + base64.StdEncoding.EncodeToString(priv)
}

// ParseSigningKey parses a "whsk_" ed25519 private key. It checks that the
// public half stored in the key matches its seed, so that a corrupted key is
// caught here rather than producing signatures nobody can verify.
func ParseSigningKey(s string) (ed25519.PrivateKey, error) {
	b, err := decodeKey(s, SigningKeyPrefix, "signing key")
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.PrivateKeySize {
		return nil, keyError("signing key is %d bytes, want %d", len(b), ed25519.PrivateKeySize)
	}
	priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
	if !priv.Equal(ed25519.PrivateKey(b)) {
		return nil, keyError("signing key's public half does not match its seed")
	}
	return priv, nil
}

// PublicKey returns the "whpk_" public key that verifies signatures made with
// the "whsk_" signing key.
func PublicKey(signingKey string) (string, error) {
	priv, err := ParseSigningKey(signingKey)
	if err != nil {
		return "", err
	}
	pub := priv.Public().(ed25519.PublicKey)
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub), nil
}

// ParsePublicKey parses a "whpk_" ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := decodeKey(s, PublicKeyPrefix, "public key")
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, keyError("public key is %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// decodeKey checks that s starts with prefix and decodes the base64 after
// it. Standard base64 with padding is what the specification asks for;
// unpadded input is accepted too, because keys get copied by hand and a
// trailing "=" is easily lost. what names the key kind in errors.
func decodeKey(s, prefix, what string) ([]byte, error) {
	switch rest, ok := strings.CutPrefix(s, prefix); {
	case s == "":
		return nil, keyError("%s is empty", what)
	case !ok:
		return nil, keyError("%s must start with %q%s", what, prefix, kindHint(s))
	case rest == "":
		return nil, keyError("%s has nothing after %q", what, prefix)
	default:
		enc := base64.StdEncoding.Strict()
		if !strings.HasSuffix(rest, "=") {
			enc = base64.RawStdEncoding.Strict()
		}
		b, err := enc.DecodeString(rest)
		if err != nil {
			return nil, keyError("%s after %q is not valid standard base64 (%v)", what, prefix, err)
		}
		return b, nil
	}
}

// kindHint names the kind of key s looks like, so that "must start with
// whsec_" also says that a public key was given where a secret belongs.
func kindHint(s string) string {
	switch {
	case strings.HasPrefix(s, SecretPrefix):
		return " (got a whsec_ secret)"
	case strings.HasPrefix(s, SigningKeyPrefix):
		return " (got a whsk_ signing key)"
	case strings.HasPrefix(s, PublicKeyPrefix):
		return " (got a whpk_ public key)"
	}
	return ""
}

// keyError wraps ErrInvalidKey with the reason a key was rejected.
func keyError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidKey, fmt.Sprintf(format, args...))
}
