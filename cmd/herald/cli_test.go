package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/client"
)

// TestCLIWalk runs every API command against a real server: register,
// send, inspect, replay, recover and tail, as the README walks through.
func TestCLIWalk(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	rcv := newSink(t)

	// Tenants and keys, with the admin key.
	if out := e.ok(t, "tenants", "create", "acme", "--name", "Acme Payouts", "--metadata", "plan=gold"); !strings.Contains(out, "Acme Payouts") {
		t.Errorf("tenants create printed %q", out)
	}
	var tenants client.Page[client.Tenant]
	e.json(t, &tenants, "tenants", "list")
	if !hasTenant(tenants.Data, "acme") {
		t.Errorf("tenants list = %+v, want acme", tenants.Data)
	}
	if out := e.ok(t, "tenants", "get", "acme"); !regexp.MustCompile(`metadata\s+plan=gold`).MatchString(out) {
		t.Errorf("tenants get printed %q", out)
	}
	var all client.Page[client.Tenant]
	e.json(t, &all, "tenants", "list", "--all", "--limit", "1")
	if len(all.Data) != 2 || !hasTenant(all.Data, "acme") || all.NextCursor != nil {
		t.Errorf("tenants list --all --limit 1 = %+v, want acme and Herald's own tenant, one page at a time", all)
	}
	var link client.PortalLink
	e.json(t, &link, "tenants", "portal-link", "acme", "--expires-in", "10m", "--read-only")
	if !strings.HasPrefix(link.URL, e.srv.url) || link.ExpiresAt.IsZero() {
		t.Errorf("tenants portal-link = %+v, want a link to %s", link, e.srv.url)
	}
	var key client.NewAPIKey
	e.json(t, &key, "keys", "create", "acme")
	if !strings.HasPrefix(key.Key, "hkt_") {
		t.Fatalf("keys create = %+v", key)
	}
	if out := e.ok(t, "keys", "list", "acme"); !strings.Contains(out, key.ID) {
		t.Errorf("keys list printed %q, want %s", out, key.ID)
	}

	// The tenant registers an endpoint, with its own key from now on.
	e.env["HERALD_KEY"] = key.Key
	var ep client.EndpointWithSecret
	e.json(t, &ep, "endpoints", "create", "--url", rcv.url+"/hooks", "--events", "payout.paid,payout.failed",
		"--header", "X-Shop: 1", "--retry-schedule", "50ms,50ms")
	if !strings.HasPrefix(ep.Secret, "whsec_") || len(ep.Events) != 2 || ep.Headers["X-Shop"] != "1" {
		t.Fatalf("endpoints create = %+v", ep)
	}
	if out := e.ok(t, "endpoints", "list"); !strings.Contains(out, ep.ID) || !strings.Contains(out, "payout.paid,payout.failed") {
		t.Errorf("endpoints list printed %q", out)
	}
	if out := e.ok(t, "endpoints", "get", ep.ID); !regexp.MustCompile(`status\s+active`).MatchString(out) {
		t.Errorf("endpoints get printed %q", out)
	}
	var upd client.Endpoint
	e.json(t, &upd, "endpoints", "update", ep.ID, "--description", "payouts", "--timeout", "5s", "--header", "X-Shop:")
	if upd.Description != "payouts" || upd.Timeout != "5s" || len(upd.Headers) != 0 {
		t.Errorf("endpoints update = %+v", upd)
	}
	var sec client.Secret
	e.json(t, &sec, "endpoints", "secret", ep.ID)
	if sec.Secret != ep.Secret {
		t.Errorf("endpoints secret = %q, want %q", sec.Secret, ep.Secret)
	}
	e.json(t, &sec, "endpoints", "rotate-secret", ep.ID, "--expire-old-after", "1h")
	if sec.Secret == ep.Secret || len(sec.Old) != 1 {
		t.Errorf("endpoints rotate-secret = %+v, want a new secret and the old one", sec)
	}
	var ping client.Attempt
	e.json(t, &ping, "endpoints", "test", ep.ID)
	if ping.StatusCode == nil || *ping.StatusCode != 200 || rcv.hits.Load() != 1 {
		t.Errorf("endpoints test = %+v (receiver hits %d)", ping, rcv.hits.Load())
	}

	// Send from a file and from flags; a repeat with the same id is told.
	file := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(file, []byte(`{"type": "payout.paid", "data": {"payoutId": "po_44", "amountPaise": 250000}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var ev client.Event
	e.json(t, &ev, "events", "send", "--file", file)
	if ev.Type != "payout.paid" || ev.TenantID != "acme" {
		t.Fatalf("events send = %+v", ev)
	}
	for range 2 {
		r := e.run(t, nil, "events", "send", "--type", "payout.failed", "--data", `{"payoutId":"po_45"}`, "--id", "evt_po_45")
		if r.code != 0 {
			t.Fatalf("events send --id: exit %d: %s", r.code, r.stderr)
		}
	}
	if r := e.run(t, nil, "events", "send", "--type", "payout.failed", "--data", `{"payoutId":"po_45"}`, "--id", "evt_po_45"); !strings.Contains(r.stderr, "sent before") {
		t.Errorf("a repeated send said %q, want that it was sent before", r.stderr)
	}

	// Inspect: the delivery succeeds.
	var ds client.Page[client.Delivery]
	eventually(t, 20*time.Second, "the delivery succeeded", func() bool {
		e.json(t, &ds, "deliveries", "list", "--event", ev.ID, "--all")
		return len(ds.Data) == 1 && ds.Data[0].Status == "succeeded"
	})
	dlv := ds.Data[0].ID
	if out := e.ok(t, "events", "list", "--type", "payout.paid", "--since", "1h"); !strings.Contains(out, ev.ID) {
		t.Errorf("events list printed %q", out)
	}
	if out := e.ok(t, "events", "get", ev.ID); !strings.Contains(out, `"po_44"`) {
		t.Errorf("events get printed %q", out)
	}
	if out := e.ok(t, "events", "deliveries", ev.ID); !strings.Contains(out, dlv) {
		t.Errorf("events deliveries printed %q", out)
	}
	if out := e.ok(t, "deliveries", "get", dlv); !regexp.MustCompile(`(?m)^att_\S+\s+` + dlv + `\s+1\s+\S+\s+200\s`).MatchString(out) {
		t.Errorf("deliveries get printed %q, want its attempt", out)
	}
	if out := e.ok(t, "deliveries", "attempts", dlv); !strings.Contains(out, "200") {
		t.Errorf("deliveries attempts printed %q", out)
	}

	// Replay and retry: each adds an attempt.
	var replayed client.Page[client.Delivery]
	e.json(t, &replayed, "events", "replay", ev.ID)
	if len(replayed.Data) != 1 || replayed.Data[0].ID != dlv {
		t.Errorf("events replay = %+v, want delivery %s", replayed.Data, dlv)
	}
	eventually(t, 20*time.Second, "the replay was sent", func() bool {
		var d client.DeliveryDetail
		e.json(t, &d, "deliveries", "get", dlv)
		return len(d.Attempts) == 2 && d.Status == "succeeded"
	})
	var retried client.Delivery
	e.json(t, &retried, "deliveries", "retry", dlv)
	if retried.ID != dlv {
		t.Errorf("deliveries retry = %+v", retried)
	}
	eventually(t, 20*time.Second, "the retry was sent", func() bool {
		var d client.DeliveryDetail
		e.json(t, &d, "deliveries", "get", dlv)
		return len(d.Attempts) == 3 && d.Status == "succeeded"
	})

	// Tail prints what was recorded since, coloured when asked.
	// (Four attempts: three of dlv, one of evt_po_45's delivery.)
	out := e.ok(t, "tail", "--since", "1h", "--count", "4", "--interval", "50ms", "--color", "always")
	if strings.Count(out, "\x1b[32m") != 4 || strings.Count(out, dlv) != 3 {
		t.Errorf("tail printed %q, want 4 green attempts, 3 of %s", out, dlv)
	}
	if out := e.ok(t, "tail", "--since", "1h", "--count", "1", "--interval", "50ms"); strings.Contains(out, "\x1b[") {
		t.Errorf("tail coloured output that is not a terminal: %q", out)
	}

	// A batch file: each event gets its result; one refused fails the command.
	batch := filepath.Join(t.TempDir(), "batch.json")
	if err := os.WriteFile(batch, []byte(`{"events": [
		{"id": "evt_b1", "type": "payout.paid", "data": {"payoutId": "po_b1"}},
		{"type": "not a type", "data": {}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, nil, "events", "send", "--file", batch)
	if r.code != 1 || !regexp.MustCompile(`(?m)^1\s+202\s+evt_b1\s`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^2\s+400\s+-\s+not a type\s+400 Bad Request`).MatchString(r.stdout) || !strings.Contains(r.stderr, "1 of 2 events were refused") {
		t.Errorf("events send of a batch: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	// Recover: events sent while the endpoint was disabled get a delivery.
	if out := e.ok(t, "endpoints", "disable", ep.ID, "--reason", "maintenance"); !regexp.MustCompile(`disabledReason\s+maintenance`).MatchString(out) {
		t.Errorf("endpoints disable printed %q", out)
	}
	e.json(t, &ev, "events", "send", "--type", "payout.paid", "--data", `{"payoutId":"po_46"}`)
	e.ok(t, "endpoints", "enable", ep.ID)
	r = e.run(t, nil, "endpoints", "recover", ep.ID, "--since", "1h", "--wait", "--poll-interval", "20ms")
	if r.code != 0 || !regexp.MustCompile(`status\s+succeeded`).MatchString(r.stdout) || !strings.Contains(r.stderr, "100% ") {
		t.Fatalf("endpoints recover --wait: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "\r") {
		t.Errorf("the progress bar redrew in place on a non-terminal: %q", r.stderr)
	}
	job := regexp.MustCompile(`(?m)^id\s+(\S+)`).FindStringSubmatch(r.stdout)[1]
	var j client.Job
	e.json(t, &j, "jobs", "get", job)
	if j.Status != "succeeded" || j.EndpointID != ep.ID {
		t.Errorf("jobs get = %+v", j)
	}
	eventually(t, 20*time.Second, "the recovered event was delivered", func() bool {
		e.json(t, &ds, "deliveries", "list", "--event", ev.ID, "--status", "succeeded")
		return len(ds.Data) == 1
	})
	if out := e.ok(t, "endpoints", "stats", ep.ID); !strings.Contains(out, "windows") {
		t.Errorf("endpoints stats printed %q", out)
	}

	// Clean up with the admin key.
	e.ok(t, "endpoints", "delete", ep.ID)
	e.env["HERALD_KEY"] = e.srv.adminKey
	e.ok(t, "keys", "delete", "acme", key.ID)
	if out := e.ok(t, "tenants", "delete", "acme"); !strings.Contains(out, "deleted tenant acme") {
		t.Errorf("tenants delete printed %q", out)
	}
}

func hasTenant(ts []client.Tenant, id string) bool {
	for _, t := range ts {
		if t.ID == id {
			return true
		}
	}
	return false
}

// TestCLIExitCodes pins the exit codes: 1 with the server's problem on one
// line, 2 for a usage error, 3 when the server cannot be reached.
func TestCLIExitCodes(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, "--role", "api")
	e.ok(t, "tenants", "create", "acme")
	var key client.NewAPIKey
	e.json(t, &key, "keys", "create", "acme")
	tests := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"not found", nil, []string{"tenants", "get", "nope"}, 1, `herald: 404 Not Found: no tenant "nope"`},
		{"forbidden", []string{"HERALD_KEY=" + key.Key}, []string{"tenants", "list"}, 1, "herald: 403 Forbidden: "},
		{"invalid fields", nil, []string{"endpoints", "create", "--tenant", "acme", "--url", "ftp://x", "--events", "a"}, 1, "herald: 400 Bad Request: The request has invalid fields; see errors. url "},
		{"bad key", []string{"HERALD_KEY=hka_wrong"}, []string{"tenants", "list"}, 1, "herald: 401 Unauthorized"},
		{"unknown flag", nil, []string{"tenants", "list", "--nope"}, 2, "unknown flag: --nope"},
		{"missing argument", nil, []string{"tenants", "get"}, 2, "accepts 1 arg"},
		{"unknown command", nil, []string{"tenants", "frobnicate"}, 2, ""},
		{"bad output", nil, []string{"tenants", "list", "-o", "yaml"}, 2, "invalid --output"},
		{"bad time", nil, []string{"events", "list", "--since", "yesterday"}, 2, "invalid --since"},
		{"no key", []string{"HERALD_KEY="}, []string{"tenants", "list"}, 2, "no API key"},
		{"send without data", nil, []string{"events", "send", "--type", "a.b"}, 2, "give --file"},
		{"unreachable", []string{"HERALD_URL=http://127.0.0.1:1"}, []string{"tenants", "list"}, 3, "unreachable"},
		{"flag beats env", []string{"HERALD_URL=http://127.0.0.1:1"}, []string{"tenants", "list", "--server", e.proxy}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(t, tt.env, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.stderr)
			}
			if tt.code == 1 && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("the problem took more than one line: %q", r.stderr)
			}
		})
	}
}

func TestCLICompletion(t *testing.T) {
	t.Parallel()
	var out, errb strings.Builder
	if code := run(t.Context(), []string{"completion", "bash"}, func(string) string { return "" }, &out, &errb); code != 0 {
		t.Fatalf("completion bash: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "__start_herald") {
		t.Errorf("completion bash printed no completion function")
	}
	out.Reset()
	// Cobra's hidden __complete command answers the shell: the values of -o.
	if code := run(t.Context(), []string{"__complete", "tenants", "list", "-o", ""}, func(string) string { return "" }, &out, &errb); code != 0 {
		t.Fatalf("__complete: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "table\njson\n") {
		t.Errorf("completion of -o = %q, want table and json", out.String())
	}
}

// TestCLIBinary runs the built binary: an event from standard input, and
// the exit statuses the process itself returns.
func TestCLIBinary(t *testing.T) {
	t.Parallel()
	bin, err := buildHerald()
	if err != nil {
		t.Fatal(err)
	}
	e := newCLIEnv(t, "--role", "api")
	e.ok(t, "tenants", "create", "acme")
	herald := func(stdin string, args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"HERALD_URL=" + e.proxy, "HERALD_KEY=" + e.srv.adminKey}
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := herald(`{"tenantId": "acme", "type": "payout.paid", "data": {"payoutId": "po_44"}}`, "events", "send", "-f", "-", "-o", "json")
	var ev client.Event
	if code != 0 || json.Unmarshal([]byte(out), &ev) != nil || ev.TenantID != "acme" {
		t.Fatalf("events send -f -: exit %d, %s", code, out)
	}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"events", "get", ev.ID}, 0},
		{[]string{"events", "get", "evt_nope"}, 1},
		{[]string{"events", "get"}, 2},
		{[]string{"events", "get", ev.ID, "--server", "http://127.0.0.1:1"}, 3},
	} {
		if out, code := herald("", tt.args...); code != tt.code {
			t.Errorf("herald %s: exit %d, want %d\n%s", strings.Join(tt.args, " "), code, tt.code, out)
		}
	}
}
