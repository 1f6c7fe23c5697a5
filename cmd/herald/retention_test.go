package main

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestRetentionFlags checks the defaults of --retention,
// --retention-interval and --tenant-rate-limit and their variables.
func TestRetentionFlags(t *testing.T) {
	t.Parallel()
	parse := func(args []string, env map[string]string) serveConfig {
		t.Helper()
		f := serveFlags{}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		f.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := f.applyEnv(fs, func(k string) string { return env[k] }); err != nil {
			t.Fatal(err)
		}
		cfg, err := f.parse()
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := parse(nil, nil)
	if cfg.Retention != 30*24*time.Hour || cfg.RetentionInterval != 10*time.Minute || cfg.TenantRateLimit != 0 {
		t.Errorf("defaults: retention %s every %s, tenant rate %v; want 720h every 10m, 0",
			cfg.Retention, cfg.RetentionInterval, cfg.TenantRateLimit)
	}
	cfg = parse([]string{"--retention", "48h"}, map[string]string{
		"HERALD_RETENTION": "0", "HERALD_RETENTION_INTERVAL": "30s", "HERALD_TENANT_RATE_LIMIT": "2.5",
	})
	if cfg.Retention != 48*time.Hour || cfg.RetentionInterval != 30*time.Second || cfg.TenantRateLimit != 2.5 {
		t.Errorf("flag and variables: retention %s every %s, tenant rate %v; want 48h every 30s, 2.5",
			cfg.Retention, cfg.RetentionInterval, cfg.TenantRateLimit)
	}
	if cfg := parse(nil, map[string]string{"HERALD_RETENTION": "0s"}); cfg.Retention != 0 {
		t.Errorf("HERALD_RETENTION=0s: retention %s, want 0 (keep everything)", cfg.Retention)
	}
}
