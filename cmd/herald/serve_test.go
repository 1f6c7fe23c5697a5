package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestServeWalkthrough follows the README: tenant → tenant key → endpoint →
// event → deliveries, against `herald serve` on port 0.
func TestServeWalkthrough(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// --role api: the README's endpoint is merchant.example.com, which a
	// test must not reach; delivery has tests of its own.
	srv := startServe(t, dir, "--role", "api")
	if srv.adminKey == "" {
		t.Fatalf("no admin key printed on first start:\n%s", srv.log)
	}

	if code := call(t, "POST", srv.url+"/v1/tenants", srv.adminKey, map[string]any{"id": "acme", "name": "Acme"}, nil); code != 201 {
		t.Fatalf("create tenant: status %d, want 201", code)
	}
	var key struct{ ID, Key string }
	if code := call(t, "POST", srv.url+"/v1/tenants/acme/api-keys", srv.adminKey, map[string]any{}, &key); code != 201 || key.Key == "" {
		t.Fatalf("create tenant key: status %d, key %q", code, key.Key)
	}
	var ep struct{ ID, Secret, Status string }
	body := map[string]any{"url": "https://merchant.example.com/hooks/payouts", "events": []string{"payout.paid", "payout.failed"}}
	if code := call(t, "POST", srv.url+"/v1/webhook-endpoints", key.Key, body, &ep); code != 201 {
		t.Fatalf("create endpoint: status %d, want 201", code)
	}
	if ep.Status != "active" || !strings.HasPrefix(ep.Secret, "whsec_") {
		t.Errorf("endpoint status %q, secret %q; want active, whsec_…", ep.Status, ep.Secret)
	}
	var ev struct{ ID, Type, TenantID string }
	event := map[string]any{"type": "payout.paid", "data": map[string]any{"payoutId": "po_44", "amountPaise": 250000}}
	if code := call(t, "POST", srv.url+"/v1/events", key.Key, event, &ev); code != 202 {
		t.Fatalf("post event: status %d, want 202", code)
	}
	if ev.TenantID != "acme" || !strings.HasPrefix(ev.ID, "evt_") {
		t.Errorf("event = %+v, want tenant acme and an evt_ id", ev)
	}
	var dl struct {
		Data []struct{ EventID, EndpointID, Status string }
	}
	if code := call(t, "GET", srv.url+"/v1/events/"+ev.ID+"/deliveries", key.Key, nil, &dl); code != 200 {
		t.Fatalf("list deliveries: status %d", code)
	}
	if len(dl.Data) != 1 || dl.Data[0].EndpointID != ep.ID || dl.Data[0].Status != "pending" {
		t.Errorf("deliveries = %+v, want one pending delivery to %s", dl.Data, ep.ID)
	}

	if code := srv.stop(); code != 0 {
		t.Fatalf("serve exited with %d, want 0:\n%s", code, srv.log)
	}

	// Neither secrets nor keys are stored in clear.
	files, _ := filepath.Glob(filepath.Join(dir, "herald.db*"))
	for _, f := range files {
		if strings.HasSuffix(f, ".key") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for name, secret := range map[string]string{"endpoint secret": ep.Secret, "admin key": srv.adminKey, "tenant key": key.Key} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%s found in clear in %s", name, filepath.Base(f))
			}
		}
	}
	st, err := os.Stat(filepath.Join(dir, "herald.db.key"))
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %v, want 0600", mode)
	}

	// A restart reuses the key file and prints no new admin key; the data
	// written before is all there and its secret still opens.
	again := startServe(t, dir, "--role", "api")
	if again.adminKey != "" {
		t.Errorf("a second start printed a new admin key")
	}
	var got struct{ Secret string }
	if code := call(t, "GET", again.url+"/v1/webhook-endpoints/"+ep.ID+"/secret", srv.adminKey, nil, &got); code != 200 || got.Secret != ep.Secret {
		t.Errorf("secret after restart: status %d, %q; want 200, %q", code, got.Secret, ep.Secret)
	}
}

func TestServeAdminKeyFlag(t *testing.T) {
	t.Parallel()
	const key = "my-admin-key-0123456789"
	srv := startServe(t, t.TempDir(), "--admin-key", key)
	if srv.adminKey != "" {
		t.Errorf("an admin key was generated although --admin-key was given")
	}
	if code := call(t, "GET", srv.url+"/v1/tenants", key, nil, nil); code != 200 {
		t.Errorf("GET /v1/tenants with --admin-key: status %d, want 200", code)
	}
	if code := call(t, "GET", srv.url+"/v1/tenants", "wrong-key-0123456789", nil, nil); code != 401 {
		t.Errorf("GET /v1/tenants with a wrong key: status %d, want 401", code)
	}
}

func TestSecondProcessRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startServe(t, dir)
	var stderr bytes.Buffer
	args := []string{"serve", "--addr", "127.0.0.1:0", "--database", filepath.Join(dir, "herald.db")}
	code := run(context.Background(), args, func(string) string { return "" }, io.Discard, &stderr)
	if code != exitError || !strings.Contains(stderr.String(), "in use") {
		t.Errorf("second serve: exit %d, stderr %q; want %d and a message saying the database is in use", code, stderr.String(), exitError)
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "x.db")
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--addr", "nope"}, want: "--addr"},
		{args: []string{"--public-url", "ftp://x"}, want: "--public-url"},
		{args: []string{"--database", "postgres://localhost/herald"}, want: "is required with a PostgreSQL"},
		{args: []string{"--role", "both"}, want: "--role"},
		{args: []string{"--workers", "0"}, want: "--workers"},
		{args: []string{"--poll-interval", "0s"}, want: "--poll-interval"},
		{args: []string{"--claim-interval", "-1ms"}, want: "--claim-interval"},
		{args: []string{"--lease-margin", "soon"}, want: "--lease-margin"},
		{args: []string{"--disable-after", "-1h"}, want: "--disable-after"},
		{args: []string{"--secret-key", "c2hvcnQ="}, want: "--secret-key"},
		{args: []string{"--secret-key", "!!"}, want: "--secret-key"},
		{args: []string{"--admin-key", "short"}, want: "--admin-key"},
		{args: []string{"--allow-destinations", "10.0.0.0/33"}, want: "--allow-destinations"},
		{args: []string{"--allow-destinations", "169.254.169.254/32"}, want: "never allowed"},
		{args: []string{"--allow-destinations", "0.0.0.0/0"}, want: "never allowed"},
		{args: []string{"--retry-schedule", "5s,soon"}, want: "--retry-schedule"},
		{args: []string{"--retry-schedule", "-1s"}, want: "--retry-schedule"},
		{args: []string{"--max-payload", "12XB"}, want: "--max-payload"},
		{args: []string{"--max-payload", "0"}, want: "--max-payload"},
		{args: []string{"--retention", "-1h"}, want: "--retention"},
		{args: []string{"--retention", "30d"}, want: "--retention"},
		{args: []string{"--retention-interval", "0s"}, want: "--retention-interval"},
		{args: []string{"--tenant-rate-limit", "-1"}, want: "--tenant-rate-limit"},
		{args: []string{"--tenant-rate-limit", "NaN"}, want: "--tenant-rate-limit"},
		{args: []string{"--tenant-rate-limit", "fast"}, want: "--tenant-rate-limit"},
		{env: map[string]string{"HERALD_RETENTION": "forever"}, want: "HERALD_RETENTION"},
		{env: map[string]string{"HERALD_TENANT_RATE_LIMIT": "1e9"}, want: "HERALD_TENANT_RATE_LIMIT"},
		{args: []string{"--no-such-flag"}, want: "unknown flag"},
		{env: map[string]string{"HERALD_MAX_PAYLOAD": "lots"}, want: "HERALD_MAX_PAYLOAD"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.args, tt.env), func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			args := append([]string{"serve", "--database", db}, tt.args...)
			code := run(context.Background(), args, func(k string) string { return tt.env[k] }, io.Discard, &stderr)
			msg := stderr.String()
			if code != exitUsage || !strings.Contains(msg, tt.want) || strings.Count(msg, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want %d and one line naming %q", code, msg, exitUsage, tt.want)
			}
		})
	}
	if _, err := os.Stat(db); err == nil {
		t.Errorf("a bad flag still created the database")
	}
}

func TestEnvFallback(t *testing.T) {
	t.Parallel()
	f := serveFlags{}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse([]string{"--addr", "127.0.0.1:9"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HERALD_ADDR": "127.0.0.1:7", "HERALD_ALLOW_DESTINATIONS": "127.0.0.1/32", "HERALD_MAX_PAYLOAD": "1MiB"}
	if err := f.applyEnv(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.parse()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9" {
		t.Errorf("Addr = %q, want the flag's 127.0.0.1:9 over the variable", cfg.Addr)
	}
	if len(cfg.AllowDestinations) != 1 || cfg.AllowDestinations[0].String() != "127.0.0.1/32" {
		t.Errorf("AllowDestinations = %v, want [127.0.0.1/32]", cfg.AllowDestinations)
	}
	if cfg.MaxPayload != 1<<20 {
		t.Errorf("MaxPayload = %d, want %d", cfg.MaxPayload, 1<<20)
	}
	if cfg.PublicURL != "http://127.0.0.1:9" {
		t.Errorf("PublicURL = %q, want http://127.0.0.1:9", cfg.PublicURL)
	}
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"256KiB": 256 << 10, "1MiB": 1 << 20, "1000": 1000, "10B": 10, "64MiB": 64 << 20} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "KiB", "-1", "65MiB", "1GiB", "1.5MiB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q): no error", in)
		}
	}
}

func TestMigrateAndVersion(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "m.db")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "--database", db}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "up to date") {
		t.Errorf("migrate printed %q", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"version"}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "herald ") {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"no-such-command"}, nil, &out, &errOut); code != exitUsage {
		t.Errorf("unknown command: exit %d, want %d (%s)", code, exitUsage, errOut.String())
	}
}

func TestAdminKeyFlagRefusesTenantKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServe(t, dir)
	if code := call(t, "POST", srv.url+"/v1/tenants", srv.adminKey, map[string]any{"id": "acme"}, nil); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	var key struct{ Key string }
	if code := call(t, "POST", srv.url+"/v1/tenants/acme/api-keys", srv.adminKey, nil, &key); code != 201 {
		t.Fatalf("create key: %d", code)
	}
	srv.stop()
	var stderr bytes.Buffer
	args := []string{"serve", "--addr", "127.0.0.1:0", "--database", filepath.Join(dir, "herald.db"), "--admin-key", key.Key}
	code := run(context.Background(), args, func(string) string { return "" }, io.Discard, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "tenant acme") {
		t.Errorf("serve with a tenant key as --admin-key: exit %d, %q; want %d naming the tenant", code, stderr.String(), exitUsage)
	}
}

func TestRedactDatabase(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"herald.db": "herald.db",
		"postgres://herald:s3cret@db:5432/herald?sslmode=require": "postgres://herald:xxxxx@db:5432/herald?sslmode=require",
		"postgres://herald@db/herald":                             "postgres://herald@db/herald",
	} {
		if got := redactDatabase(in); got != want {
			t.Errorf("redactDatabase(%q) = %q, want %q", in, got, want)
		}
	}
}
