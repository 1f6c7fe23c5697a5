package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	sealed := box.Seal(plain, "ep_1")
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := box.Open(sealed, "ep_1")
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plain)
	}
	if _, err := box.Open(sealed, "ep_2"); !errors.Is(err, ErrOpen) {
		t.Errorf("Open with another row id: err = %v, want ErrOpen", err)
	}
	other, _ := New(bytes.Repeat([]byte{7}, KeySize))
	if _, err := other.Open(sealed, "ep_1"); !errors.Is(err, ErrOpen) {
		t.Errorf("Open with another key: err = %v, want ErrOpen", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := box.Open(sealed, "ep_1"); !errors.Is(err, ErrOpen) {
		t.Errorf("Open of damaged value: err = %v, want ErrOpen", err)
	}
	if _, err := box.Open(nil, "ep_1"); !errors.Is(err, ErrOpen) {
		t.Errorf("Open(nil): err = %v, want ErrOpen", err)
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "not base64!", "c2hvcnQ=", NewKey() + "AAAA"} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) = nil error, want one", s)
		}
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Error("New(16-byte key) = nil error, want one")
	}
}
