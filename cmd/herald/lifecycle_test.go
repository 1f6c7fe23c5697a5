package main

import (
	"testing"
)

// TestEndpointLifecycleEndToEnd: through `herald serve`, POST …/test sends
// a signed ping with the node's dispatcher and sender, and after a rotation
// the ping still verifies with the receiver's new secret alone; disable and
// enable answer with the endpoint.
func TestEndpointLifecycleEndToEnd(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil) // 401 for a bad signature, 200 otherwise
	srv := startServe(t, t.TempDir(), "--allow-destinations", "127.0.0.1/32")
	if code := call(t, "POST", srv.url+"/v1/tenants", srv.adminKey, map[string]any{"id": "acme"}, nil); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	var key struct{ Key string }
	if code := call(t, "POST", srv.url+"/v1/tenants/acme/api-keys", srv.adminKey, nil, &key); code != 201 {
		t.Fatalf("create key: %d", code)
	}
	id := addEndpoint(t, srv.url, key.Key, rc, "/ping", map[string]any{"events": []string{"order.*"}})
	base := srv.url + "/v1/webhook-endpoints/" + id

	ping := func(what string) {
		t.Helper()
		var a attemptJSON
		if code := call(t, "POST", base+"/test", key.Key, nil, &a); code != 200 {
			t.Fatalf("%s: POST …/test = %d, want 200", what, code)
		}
		if a.StatusCode == nil || *a.StatusCode != 200 || a.Error != nil || a.EndpointID != id || a.RequestHeaders["Webhook-Id"] == "" {
			t.Errorf("%s: attempt %s; want a verified 200 to %s", what, show(a), id)
		}
	}
	ping("before rotation")

	var rot struct{ Secret string }
	if code := call(t, "POST", base+"/rotate-secret", key.Key, map[string]any{"expireOldAfter": "1h"}, &rot); code != 200 || rot.Secret == "" {
		t.Fatalf("rotate: %d %q", code, rot.Secret)
	}
	rc.trust("/ping", rot.Secret) // the receiver has switched; the old secret signs too
	ping("after rotation")

	var ep struct{ Status, DisabledReason string }
	if code := call(t, "POST", base+"/disable", key.Key, map[string]any{"reason": "moving"}, &ep); code != 200 || ep.Status != "disabled" || ep.DisabledReason != "moving" {
		t.Errorf("disable: %d %+v", code, ep)
	}
	ping("while disabled")
	ep = struct{ Status, DisabledReason string }{}
	if code := call(t, "POST", base+"/enable", key.Key, nil, &ep); code != 200 || ep.Status != "active" || ep.DisabledReason != "" {
		t.Errorf("enable: %d %+v", code, ep)
	}
}
