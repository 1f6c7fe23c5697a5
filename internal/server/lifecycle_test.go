package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
	"github.com/heraldhq/herald/webhook"
)

type (
	oldSecretJ struct {
		Secret    string    `json:"secret"`
		PublicKey string    `json:"publicKey"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	secretJ struct {
		Secret    string       `json:"secret"`
		PublicKey string       `json:"publicKey"`
		Old       []oldSecretJ `json:"old"`
	}
	attemptJ struct {
		ID              string            `json:"id"`
		DeliveryID      string            `json:"deliveryId"`
		EndpointID      string            `json:"endpointId"`
		Attempt         int               `json:"attempt"`
		RequestHeaders  map[string]string `json:"requestHeaders"`
		StatusCode      *int              `json:"statusCode"`
		ResponseBody    string            `json:"responseBody"`
		Error           *string           `json:"error"`
		ErrorMessage    string            `json:"errorMessage"`
		NextRetryAt     *time.Time        `json:"nextRetryAt"`
		ResponseHeaders map[string]string `json:"responseHeaders"`
	}
)

// TestEndpointDisableEnable: disable keeps deliveries waiting; enable resets
// the failure streak and brings waiting deliveries forward to now.
func TestEndpointDisableEnable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	id := e.endpoint(t, key, map[string]any{"url": "https://merchant.example.com/hooks", "events": []string{"*"}})
	ev := e.event(t, key, map[string]any{"type": "payout.paid", "data": map[string]any{"n": 1}})

	// The delivery fails and waits ten hours.
	t0 := e.clock.Now()
	claims, err := e.store.ClaimDeliveries(ctx, hook.ClaimParams{Now: t0, Limit: 10, LeaseMargin: time.Second})
	if err != nil || len(claims) != 1 {
		t.Fatalf("claim: %d claims, %v", len(claims), err)
	}
	a := hook.Attempt{
		ID: hook.NewID(hook.PrefixAttempt), DeliveryID: claims[0].Delivery.ID, EndpointID: id, TenantID: "acme",
		Number: 1, StartedAt: t0, StatusCode: 503, Error: "http_status", NextRetryAt: t0.Add(10 * time.Hour),
	}
	if _, err := e.store.CompleteAttempt(ctx, claims[0].Token, hook.Outcome{Attempt: a, Status: hook.DeliveryPending}); err != nil {
		t.Fatal(err)
	}

	path := "/v1/webhook-endpoints/" + id
	e.clock.Add(time.Minute)
	var ep endpointJ
	e.must(t, http.StatusOK, req{method: "POST", path: path + "/disable", key: key}, &ep)
	if ep["status"] != "disabled" || ep["disabledReason"] != hook.DisabledByAPI || ep["updatedAt"] != "2026-05-08T10:16:00Z" {
		t.Errorf("after disable: status %v, reason %v, updatedAt %v; want disabled, %q, 10:16",
			ep["status"], ep["disabledReason"], ep["updatedAt"], hook.DisabledByAPI)
	}
	e.must(t, http.StatusOK, req{method: "POST", path: path + "/disable", key: key, body: `{"reason":"maintenance until 12:00"}`}, &ep)
	if ep["disabledReason"] != "maintenance until 12:00" || ep["consecutiveFailures"] != float64(1) {
		t.Errorf("after disable with a reason: reason %v, failures %v; want the reason, 1", ep["disabledReason"], ep["consecutiveFailures"])
	}
	var got endpointJ
	e.must(t, http.StatusOK, req{method: "GET", path: path, key: key}, &got)
	if diff := cmp.Diff(ep, got); diff != "" {
		t.Errorf("GET after disable differs from its answer (-answer +GET):\n%s", diff)
	}

	e.clock.Add(time.Hour)
	ep = endpointJ{} // decoding into a map keeps the members it had
	e.must(t, http.StatusOK, req{method: "POST", path: path + "/enable", key: key}, &ep)
	if _, ok := ep["disabledReason"]; ok || ep["status"] != "active" || ep["consecutiveFailures"] != float64(0) ||
		ep["failingSince"] != nil || ep["lastFailureAt"] != "2026-05-08T10:15:00Z" {
		t.Errorf("after enable: %v; want active, no reason, no failure streak, lastFailureAt kept", ep)
	}
	var ds listJ[deliveryJ]
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events/" + ev.ID + "/deliveries", key: key}, &ds)
	if len(ds.Data) != 1 || ds.Data[0].NextAttemptAt == nil || !ds.Data[0].NextAttemptAt.Equal(e.clock.Now()) {
		t.Errorf("delivery after enable: %+v; want due at %s", ds.Data, e.clock.Now())
	}
}

// TestEndpointRotateSecret: rotation keeps old secrets until they expire,
// at most ten of them.
func TestEndpointRotateSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.tenant(t, "acme")
	first := webhook.NewSecret()
	id := e.endpoint(t, key, map[string]any{"url": "https://merchant.example.com/hooks", "events": []string{"*"}, "secret": first})
	path := "/v1/webhook-endpoints/" + id
	t0 := e.clock.Now()

	var rot secretJ
	e.must(t, http.StatusOK, req{method: "POST", path: path + "/rotate-secret", key: key}, &rot)
	want := secretJ{Secret: rot.Secret, Old: []oldSecretJ{{Secret: first, ExpiresAt: t0.Add(24 * time.Hour)}}}
	if diff := cmp.Diff(want, rot); diff != "" || !strings.HasPrefix(rot.Secret, "whsec_") || rot.Secret == first {
		t.Errorf("rotation answer mismatch (-want +got):\n%s", diff)
	}
	var sec secretJ
	e.must(t, http.StatusOK, req{method: "GET", path: path + "/secret", key: key}, &sec)
	if diff := cmp.Diff(rot, sec); diff != "" {
		t.Errorf("GET …/secret differs from the rotation's answer (-rotation +GET):\n%s", diff)
	}

	// A given secret, and a shorter overlap; then eight more fill the ten.
	given := webhook.NewSecret()
	e.clock.Add(time.Minute)
	e.must(t, http.StatusOK, req{method: "POST", path: path + "/rotate-secret", key: key,
		body: map[string]any{"secret": given, "expireOldAfter": "1h"}}, &rot)
	if rot.Secret != given || len(rot.Old) != 2 || rot.Old[0].Secret != want.Secret || !rot.Old[0].ExpiresAt.Equal(t0.Add(time.Minute+time.Hour)) {
		t.Errorf("second rotation: %+v; want %s with the previous secret until 11:16", rot, given)
	}
	for range hook.MaxOldSecrets - 2 {
		e.must(t, http.StatusOK, req{method: "POST", path: path + "/rotate-secret", key: key}, &rot)
	}
	if len(rot.Old) != hook.MaxOldSecrets {
		t.Fatalf("%d old secrets, want %d", len(rot.Old), hook.MaxOldSecrets)
	}
	res := e.do(t, req{method: "POST", path: path + "/rotate-secret", key: key})
	if p := res.problem(t); p.Status != http.StatusConflict || p.Type != typeConflict {
		t.Errorf("11th rotation: %d %s, want 409 %s", p.Status, p.Type, typeConflict)
	}
	e.must(t, http.StatusOK, req{method: "GET", path: path + "/secret", key: key}, &sec)
	if sec.Secret != rot.Secret {
		t.Errorf("a refused rotation changed the secret")
	}
	// "0s" stops the current secret at once, which fits under the limit.
	e.must(t, http.StatusOK, req{method: "POST", path: path + "/rotate-secret", key: key, body: `{"expireOldAfter":"0s"}`}, &rot)
	if len(rot.Old) != hook.MaxOldSecrets || rot.Old[0].Secret == sec.Secret {
		t.Errorf("rotation with 0s: %d old, first %s; want %d without the stopped %s", len(rot.Old), rot.Old[0].Secret, hook.MaxOldSecrets, sec.Secret)
	}
	// After the window only the current secret is left.
	e.clock.Add(25 * time.Hour)
	res = e.must(t, http.StatusOK, req{method: "GET", path: path + "/secret", key: key}, &sec)
	if sec.Secret != rot.Secret || strings.Contains(string(res.body), `"old"`) {
		t.Errorf("after the window: %s; want the current secret alone", res.body)
	}
}

// TestEndpointRotateEd25519: an ed25519 endpoint rotates to a new whsk_ key,
// and the answer gives the public key of each.
func TestEndpointRotateEd25519(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ep endpointJ
	e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/webhook-endpoints", key: e.admin, body: map[string]any{
		"tenantId": "herald", "url": "https://ops.example.com/hooks", "events": []string{"herald.*"}, "signatureScheme": "ed25519",
	}}, &ep)
	var rot secretJ
	e.must(t, http.StatusOK, req{method: "POST", path: "/v1/webhook-endpoints/" + ep["id"].(string) + "/rotate-secret", key: e.admin}, &rot)
	pk, _ := webhook.PublicKey(rot.Secret)
	want := secretJ{Secret: rot.Secret, PublicKey: pk, Old: []oldSecretJ{
		{Secret: ep["secret"].(string), PublicKey: ep["publicKey"].(string), ExpiresAt: e.clock.Now().Add(24 * time.Hour)},
	}}
	if diff := cmp.Diff(want, rot); diff != "" || !strings.HasPrefix(rot.Secret, "whsk_") || pk == "" {
		t.Errorf("rotation mismatch (-want +got):\n%s", diff)
	}
}

// TestEndpointLifecycleErrors: bad bodies are 400 naming the field; another
// tenant's endpoint is 404 on every route; no sender is 503.
func TestEndpointLifecycleErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	path := "/v1/webhook-endpoints/" + f.epA
	for _, tc := range []struct {
		name, route string
		body        string
		typ, field  string
	}{
		{"reason not a string", "/disable", `{"reason":5}`, typeValidation, "reason"},
		{"unknown field", "/disable", `{"why":"x"}`, typeValidation, "why"},
		{"reason too long", "/disable", `{"reason":"` + strings.Repeat("x", maxReason+1) + `"}`, typeValidation, "reason"},
		{"not a duration", "/rotate-secret", `{"expireOldAfter":"soon"}`, typeValidation, "expireOldAfter"},
		{"negative", "/rotate-secret", `{"expireOldAfter":"-1s"}`, typeValidation, "expireOldAfter"},
		{"over a week", "/rotate-secret", `{"expireOldAfter":"169h"}`, typeValidation, "expireOldAfter"},
		{"not a secret", "/rotate-secret", `{"secret":"hunter2"}`, typeValidation, "secret"},
		{"key of another scheme", "/rotate-secret", `{"secret":"` + webhook.NewSigningKey() + `"}`, typeValidation, "secret"},
		{"unknown field", "/rotate-secret", `{"expireOld":"1h"}`, typeValidation, "expireOld"},
		{"not JSON", "/rotate-secret", `{"secret":`, typeMalformed, ""},
	} {
		res := f.do(t, req{method: "POST", path: path + tc.route, key: f.keyA, body: tc.body})
		p := res.problem(t)
		if p.Status != http.StatusBadRequest || p.Type != tc.typ || tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field) {
			t.Errorf("%s %s: %d %s %v; want 400 %s naming %q", tc.route, tc.name, p.Status, p.Type, p.Errors, tc.typ, tc.field)
		}
	}
	// The current secret, given again, is not a rotation.
	var sec secretJ
	f.must(t, http.StatusOK, req{method: "GET", path: path + "/secret", key: f.keyA}, &sec)
	res := f.do(t, req{method: "POST", path: path + "/rotate-secret", key: f.keyA, body: map[string]any{"secret": sec.Secret}})
	if p := res.problem(t); p.Status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "secret" {
		t.Errorf("rotation to the current secret: %d %v, want 400 naming secret", p.Status, p.Errors)
	}

	// Another tenant's endpoint does not exist for A, on every route; B's
	// endpoint is unchanged.
	var before secretJ
	f.must(t, http.StatusOK, req{method: "GET", path: "/v1/webhook-endpoints/" + f.epB + "/secret", key: f.keyB}, &before)
	for _, route := range []string{"/disable", "/enable", "/rotate-secret", "/test", "/secret"} {
		method := "POST"
		if route == "/secret" {
			method = "GET"
		}
		res := f.do(t, req{method: method, path: "/v1/webhook-endpoints/" + f.epB + route, key: f.keyA})
		if p := res.problem(t); p.Status != http.StatusNotFound {
			t.Errorf("tenant A: %s …%s of B's endpoint = %d, want 404", method, route, p.Status)
		}
		res = f.do(t, req{method: method, path: "/v1/webhook-endpoints/ep_missing" + route, key: f.admin})
		if p := res.problem(t); p.Status != http.StatusNotFound {
			t.Errorf("admin: %s …%s of a missing endpoint = %d, want 404", method, route, p.Status)
		}
	}
	var ep endpointJ
	f.must(t, http.StatusOK, req{method: "GET", path: "/v1/webhook-endpoints/" + f.epB, key: f.keyB}, &ep)
	var after secretJ
	f.must(t, http.StatusOK, req{method: "GET", path: "/v1/webhook-endpoints/" + f.epB + "/secret", key: f.keyB}, &after)
	if ep["status"] != "active" || after.Secret != before.Secret || len(after.Old) != 0 {
		t.Errorf("B's endpoint after A's calls: status %v, secret changed %t", ep["status"], after.Secret != before.Secret)
	}

	// Without a sender (a server that does not deliver), /test is 503.
	res = f.do(t, req{method: "POST", path: path + "/test", key: f.keyA})
	if p := res.problem(t); p.Status != http.StatusServiceUnavailable || p.Detail != "delivery is not enabled on this node" {
		t.Errorf("/test without a sender: %d %q, want 503", p.Status, p.Detail)
	}
}

// TestEndpointTest sends pings through a real dispatcher and sender to a
// local receiver that verifies their signatures.
func TestEndpointTest(t *testing.T) {
	t.Parallel()
	type got struct {
		header http.Header
		body   []byte
	}
	arrivals := make(chan got, 10)
	status := make(chan int, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		arrivals <- got{r.Header.Clone(), b}
		w.WriteHeader(<-status)
		_, _ = w.Write([]byte("pong"))
	}))
	t.Cleanup(recv.Close)
	client, err := sender.New(sender.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)

	e := newEnv(t, func(c *Config) {
		d, err := dispatch.New(dispatch.Config{Store: c.Store, Sender: client, UserAgent: "Herald/test"})
		if err != nil {
			t.Fatal(err)
		}
		c.TestSender = d
	})
	key := e.tenant(t, "acme")
	var ep endpointJ
	e.must(t, http.StatusCreated, req{method: "POST", path: "/v1/webhook-endpoints", key: key, body: map[string]any{
		"url": recv.URL + "/hooks", "events": []string{"payout.paid"}, "headers": map[string]string{"Authorization": "Bearer s3cret"},
	}}, &ep)
	id, secret := ep["id"].(string), ep["secret"].(string)
	path := "/v1/webhook-endpoints/" + id

	status <- http.StatusOK
	var a attemptJ
	e.must(t, http.StatusOK, req{method: "POST", path: path + "/test", key: key}, &a)
	r := <-arrivals
	if err := webhook.Verify(r.header, r.body, []string{secret}); err != nil {
		t.Errorf("the ping does not verify with the endpoint's secret: %v", err)
	}
	var ping struct {
		ID   string            `json:"id"`
		Type string            `json:"type"`
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(r.body, &ping); err != nil {
		t.Fatal(err)
	}
	if ping.Type != hook.PingType || ping.Data["endpointId"] != id || ping.Data["tenantId"] != "acme" ||
		r.header.Get("Webhook-Id") != ping.ID || r.header.Get("Authorization") != "Bearer s3cret" {
		t.Errorf("ping %s with headers %v; want a herald.ping naming the endpoint, with its headers", r.body, r.header)
	}
	if a.StatusCode == nil || *a.StatusCode != 200 || a.Error != nil || a.EndpointID != id || a.Attempt != 1 ||
		a.DeliveryID != "" || a.NextRetryAt != nil || a.ResponseBody != "pong" ||
		a.RequestHeaders["Authorization"] != "[redacted]" || a.RequestHeaders["Webhook-Id"] != ping.ID ||
		!strings.HasPrefix(a.ID, hook.PrefixAttempt) {
		t.Errorf("attempt = %+v; want a 200 with the ping's id, custom headers redacted, no delivery, no retry", a)
	}

	// A disabled endpoint can be tested, and a failure is an answer, not
	// an error. Nothing is stored.
	e.must(t, http.StatusOK, req{method: "POST", path: path + "/disable", key: key}, nil)
	status <- http.StatusInternalServerError
	e.must(t, http.StatusOK, req{method: "POST", path: path + "/test", key: key}, &a)
	<-arrivals
	if a.StatusCode == nil || *a.StatusCode != 500 || a.Error == nil || *a.Error != "http_status" || a.NextRetryAt != nil {
		t.Errorf("failed ping: %+v; want status 500, error http_status, no retry", a)
	}
	var events listJ[eventJ]
	e.must(t, http.StatusOK, req{method: "GET", path: "/v1/events", key: e.admin}, &events)
	if len(events.Data) != 0 {
		t.Errorf("%d events stored after pings, want 0", len(events.Data))
	}
}
