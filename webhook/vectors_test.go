package webhook_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// vector is one known answer of testdata/vectors.json: signingKeys sign
// (id, timestamp, body) into the header's value, which verifyingKeys verify.
type vector struct {
	Name          string
	Scheme        webhook.Scheme
	SigningKeys   []string
	VerifyingKeys []string
	ID            string
	Timestamp     int64
	Body          string
	Header        string
	Value         string
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Vectors []vector }
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatalf("testdata/vectors.json: %v", err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("testdata/vectors.json has no vectors")
	}
	return file.Vectors
}

// headers returns the request headers that carry v.
func (v vector) headers() http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, v.ID)
	if v.Scheme != webhook.SchemeXSignature {
		h.Set(webhook.HeaderTimestamp, itoa(v.Timestamp))
	}
	h.Set(v.Header, v.Value)
	return h
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// at returns a clock stopped at Unix second s.
func at(s int64) webhook.Option {
	return webhook.WithClock(func() time.Time { return time.Unix(s, 0) })
}

func TestVectorsSign(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			s, err := webhook.NewSigner(v.Scheme, v.SigningKeys...)
			if err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			h, err := s.Sign(v.ID, time.Unix(v.Timestamp, 0), []byte(v.Body))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if got := h.Get(v.Header); got != v.Value {
				t.Errorf("%s:\n got %s\nwant %s", v.Header, got, v.Value)
			}
			if got := h.Get("webhook-id"); got != v.ID {
				t.Errorf("webhook-id = %q, want %q", got, v.ID)
			}
			wantTS := itoa(v.Timestamp)
			if v.Scheme == webhook.SchemeXSignature {
				wantTS = ""
			}
			if got := h.Get("webhook-timestamp"); got != wantTS {
				t.Errorf("webhook-timestamp = %q, want %q", got, wantTS)
			}
		})
	}
}

func TestVectorsVerify(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			if err := webhook.Verify(v.headers(), []byte(v.Body), v.VerifyingKeys, at(v.Timestamp)); err != nil {
				t.Errorf("Verify: %v, want nil", err)
			}
			if v.Scheme == webhook.SchemeXSignature {
				return
			}
			// The same request under the svix-* header names.
			h := http.Header{}
			h.Set("svix-id", v.ID)
			h.Set("svix-timestamp", itoa(v.Timestamp))
			h.Set("svix-signature", v.Value)
			if err := webhook.Verify(h, []byte(v.Body), v.VerifyingKeys, at(v.Timestamp)); err != nil {
				t.Errorf("Verify with svix-* headers: %v, want nil", err)
			}
		})
	}
}
