package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPatchEndpoint walks merge-patch semantics (RFC 7396): absent members
// leave fields alone, null resets them to their defaults, objects merge.
func TestPatchEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	id := e.endpoint(t, key, map[string]any{
		"url": "https://example.com/a", "events": []string{"payout.*"}, "description": "payouts",
		"headers":  map[string]string{"Authorization": "Bearer abc", "X-Shop": "1"},
		"metadata": map[string]string{"team": "payments", "tier": "1"},
		"timeout":  "5s", "rateLimit": 2.5, "maxInFlight": 3, "retrySchedule": []string{"1s", "1m30s"},
	})
	path := "/v1/webhook-endpoints/" + id
	var secret map[string]string
	e.must(t, http.StatusOK, req{method: "GET", path: path + "/secret", key: key}, &secret)

	steps := []struct {
		name  string
		patch string
		ct    string
		want  map[string]any // the fields that changed since the previous step
	}{
		{
			name:  "nothing",
			patch: `{}`,
			want:  map[string]any{},
		},
		{
			name:  "values",
			patch: `{"url": "https://example.com/b", "events": ["payout.paid"], "timeout": "30s", "maxInFlight": 1}`,
			ct:    "application/merge-patch+json",
			want:  map[string]any{"url": "https://example.com/b", "events": []any{"payout.paid"}, "timeout": "30s", "maxInFlight": float64(1)},
		},
		{
			name:  "objects merge",
			patch: `{"headers": {"authorization": null, "X-Region": "eu"}, "metadata": {"tier": null, "owner": "ops"}}`,
			ct:    "application/merge-patch+json; charset=utf-8",
			want: map[string]any{
				"headers":  map[string]any{"X-Shop": "1", "X-Region": "eu"},
				"metadata": map[string]any{"team": "payments", "owner": "ops"},
			},
		},
		{
			name:  "nulls reset to defaults",
			patch: `{"description": null, "timeout": null, "rateLimit": null, "maxInFlight": null, "retrySchedule": null, "headers": null}`,
			want: map[string]any{
				"description": "", "timeout": "15s", "rateLimit": nil, "maxInFlight": float64(8), "retrySchedule": nil,
				"headers": map[string]any{},
			},
		},
		{
			name:  "empty schedule means no retries",
			patch: `{"retrySchedule": [], "events": []}`,
			want:  map[string]any{"retrySchedule": []any{}, "events": []any{}},
		},
		{
			name:  "x-signature keeps the secret",
			patch: `{"signatureScheme": "x-signature"}`,
			want:  map[string]any{"signatureScheme": "x-signature"},
		},
	}
	var prev map[string]any
	e.must(t, http.StatusOK, req{method: "GET", path: path, key: key}, &prev)
	for _, st := range steps {
		e.clock.Add(time.Minute)
		r := req{method: "PATCH", path: path, key: key, body: st.patch}
		if st.ct != "" {
			r.header = map[string]string{"Content-Type": st.ct}
		}
		var got map[string]any
		e.must(t, http.StatusOK, r, &got)
		want := map[string]any{}
		for k, v := range prev {
			want[k] = v
		}
		for k, v := range st.want {
			want[k] = v
		}
		want["updatedAt"] = e.clock.Now().Format(time.RFC3339)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s: PATCH answer mismatch (-want +got):\n%s", st.name, diff)
		}
		var read map[string]any
		e.must(t, http.StatusOK, req{method: "GET", path: path, key: key}, &read)
		if diff := cmp.Diff(got, read); diff != "" {
			t.Fatalf("%s: GET after PATCH mismatch (-patch +get):\n%s", st.name, diff)
		}
		prev = got
	}
	var now map[string]string
	e.must(t, http.StatusOK, req{method: "GET", path: path + "/secret", key: key}, &now)
	if diff := cmp.Diff(secret, now); diff != "" {
		t.Errorf("secret changed with x-signature (-before +after):\n%s", diff)
	}

	// To ed25519 and back: each change of key kind makes a new key.
	var got map[string]any
	e.must(t, http.StatusOK, req{method: "PATCH", path: path, key: key, body: `{"signatureScheme": "ed25519"}`}, &got)
	now = nil
	e.must(t, http.StatusOK, req{method: "GET", path: path + "/secret", key: key}, &now)
	if !strings.HasPrefix(now["secret"], "whsk_") || now["publicKey"] == "" || got["publicKey"] != now["publicKey"] {
		t.Errorf("after ed25519: answer publicKey %v, secret %v; want a whsk_ key and its whpk_ key in both", got["publicKey"], now)
	}
	got, now = nil, nil
	e.must(t, http.StatusOK, req{method: "PATCH", path: path, key: key, body: `{"signatureScheme": null}`}, &got)
	e.must(t, http.StatusOK, req{method: "GET", path: path + "/secret", key: key}, &now)
	if got["signatureScheme"] != "standard" || got["publicKey"] != nil || !strings.HasPrefix(now["secret"], "whsec_") || now["secret"] == secret["secret"] {
		t.Errorf("after null scheme: %v, secret %v; want standard with a new whsec_ secret", got["signatureScheme"], now)
	}

	// A PATCH that fails validation changes nothing.
	e.must(t, http.StatusBadRequest, req{method: "PATCH", path: path, key: key, body: `{"url": "https://example.com/c", "timeout": "1h"}`}, nil)
	var after map[string]any
	e.must(t, http.StatusOK, req{method: "GET", path: path, key: key}, &after)
	if diff := cmp.Diff(got, after); diff != "" {
		t.Errorf("a refused PATCH changed the endpoint (-before +after):\n%s", diff)
	}
}

// TestEndpointEd25519 creates an ed25519 endpoint: the answer adds the
// public key, which plain GETs show as well (it is not secret).
func TestEndpointEd25519(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tenant(t, "acme")
	var ep map[string]any
	e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/webhook-endpoints", key: e.admin, body: map[string]any{
		"tenantId": "acme", "url": "https://example.com/a", "events": []string{"*"}, "signatureScheme": "ed25519",
	}}, &ep)
	sk, _ := ep["secret"].(string)
	pk, _ := ep["publicKey"].(string)
	if !strings.HasPrefix(sk, "whsk_") || !strings.HasPrefix(pk, "whpk_") {
		t.Fatalf("secret %q, publicKey %q: want whsk_… and whpk_…", sk, pk)
	}
	var sec map[string]string
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/webhook-endpoints/" + ep["id"].(string) + "/secret", key: e.admin}, &sec)
	if diff := cmp.Diff(map[string]string{"secret": sk, "publicKey": pk}, sec); diff != "" {
		t.Errorf("secret mismatch (-want +got):\n%s", diff)
	}

	// A secret the caller chose is kept.
	const given = "whsec_MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="
	e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/webhook-endpoints", key: e.admin, body: map[string]any{
		"tenantId": "acme", "url": "https://example.com/a", "events": []string{"*"}, "secret": given,
	}}, &ep)
	if ep["secret"] != given {
		t.Errorf("secret = %v, want the one given", ep["secret"])
	}
}
