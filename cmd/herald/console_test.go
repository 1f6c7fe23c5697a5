package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleThroughServe opens a portal link made by `herald serve`, and
// the same link after a restart: the console's keys derive from the key
// file beside the database, so links and sessions outlive the process.
// The endpoint list shows the circuit closed where the process runs a
// dispatcher, and not known after the restart with --role api.
func TestConsoleThroughServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServe(t, dir, "--frame-ancestors", "https://app.example.com, https://admin.example.com")
	if code := call(t, "POST", srv.url+"/v1/tenants", srv.adminKey, map[string]any{"id": "acme", "name": "Acme"}, nil); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	if code := call(t, "POST", srv.url+"/v1/webhook-endpoints", srv.adminKey, map[string]any{
		"tenantId": "acme", "url": "https://merchant.example.com/hooks", "events": []string{"order.*"},
	}, nil); code != 201 {
		t.Fatalf("create endpoint: %d", code)
	}
	var link struct{ URL, ExpiresAt string }
	if code := call(t, "POST", srv.url+"/v1/tenants/acme/portal-links", srv.adminKey, map[string]any{"expiresIn": "2h"}, &link); code != 201 {
		t.Fatalf("create portal link: %d", code)
	}
	if !strings.HasPrefix(link.URL, srv.url+"/ui/portal?token=") || link.ExpiresAt == "" {
		t.Fatalf("portal link %+v, want a URL under %s", link, srv.url)
	}
	open := func(u string) (int, string, http.Header) {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		resp, err := (&http.Client{Jar: jar}).Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, body, h := open(link.URL)
	if code != 200 || !strings.Contains(body, "Portal · acme") {
		t.Fatalf("open the portal link: %d\n%s", code, body)
	}
	if !strings.Contains(body, ">circuit closed<") { // --role all: this process's dispatcher knows
		t.Errorf("the portal of a process with a dispatcher does not show the circuit closed")
	}
	if csp := h.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors https://app.example.com https://admin.example.com") || h.Get("X-Frame-Options") != "" {
		t.Errorf("CSP %q, X-Frame-Options %q: want the listed origins and no X-Frame-Options", csp, h.Get("X-Frame-Options"))
	}
	srv.stop()

	again := startServe(t, dir, "--role", "api")
	u, _ := url.Parse(link.URL)
	code, body, h = open(again.url + "/ui/portal?" + u.RawQuery)
	if code != 200 || !strings.Contains(body, "Portal · acme") {
		t.Errorf("the link after a restart: %d", code)
	}
	if !strings.Contains(body, ">circuit: not known in this process (no dispatcher)<") {
		t.Errorf("the portal of a --role api process does not say the circuit is not known there")
	}
	if h.Get("X-Frame-Options") != "DENY" || !strings.HasSuffix(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("without --frame-ancestors: CSP %q, X-Frame-Options %q", h.Get("Content-Security-Policy"), h.Get("X-Frame-Options"))
	}
}

func TestFrameAncestorsFlag(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "herald.db")
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--frame-ancestors", "https://app.example.com/embed"}, want: "--frame-ancestors"},
		{args: []string{"--frame-ancestors", "app.example.com"}, want: "--frame-ancestors"},
		{args: []string{"--frame-ancestors", "https://a.example.com; script-src *"}, want: "--frame-ancestors"},
		{env: map[string]string{"HERALD_FRAME_ANCESTORS": "*"}, want: "HERALD_FRAME_ANCESTORS"},
	} {
		var stderr bytes.Buffer
		args := append([]string{"serve", "--database", db}, c.args...)
		code := run(context.Background(), args, func(k string) string { return c.env[k] }, io.Discard, &stderr)
		if msg := stderr.String(); code != exitUsage || !strings.Contains(msg, c.want) || strings.Count(msg, "\n") != 1 {
			t.Errorf("%v %v: exit %d, stderr %q; want %d and one line naming %s", c.args, c.env, code, msg, exitUsage, c.want)
		}
	}
}
