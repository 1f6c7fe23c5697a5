package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
	"github.com/spf13/pflag"
)

// Roles of a serve process.
const (
	roleAll    = "all"
	roleAPI    = "api"
	roleWorker = "worker"
)

// serveConfig is everything `herald serve` is told, parsed and checked.
type serveConfig struct {
	Addr              string
	PublicURL         string
	Database          string
	AdminKey          string
	SecretKey         []byte // nil: use (or create) the key file beside a SQLite database
	AllowDestinations []netip.Prefix
	RetrySchedule     []time.Duration // nil: hook.DefaultRetrySchedule
	MaxPayload        int64
	ShutdownGrace     time.Duration
	DisableAfter      time.Duration // negative: never
	PollInterval      time.Duration
	ClaimInterval     time.Duration
	LeaseMargin       time.Duration
	Workers           int
	Role              string        // all, api or worker
	Retention         time.Duration // 0: keep everything
	RetentionInterval time.Duration
	TenantRateLimit   float64 // events/s per tenant, per node; 0: none

	FrameAncestors []string // origins that may frame the web console
}

// serveFlags are the raw flag values, kept as strings so that one function
// checks each with an error that names the flag (or its variable).
type serveFlags struct {
	addr, publicURL, database, adminKey, secretKey string
	allowDestinations, retrySchedule, maxPayload   string
	shutdownGrace, disableAfter, pollInterval      string
	claimInterval                                  string
	leaseMargin, workers, role                     string
	retention, retentionInterval, tenantRateLimit  string
	frameAncestors                                 string

	fromEnv map[string]string // flag name → the variable that set it
	// envNames names each flag's variable; nil means envName.
	envNames func(flag string) string
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "address the API listens on")
	fs.StringVar(&f.publicURL, "public-url", "", "how others reach this server, for links (default http:// + addr)")
	f.registerDatabase(fs)
	fs.StringVar(&f.adminKey, "admin-key", "", "a platform (admin) API key to accept; one is generated on first start when none exists")
	fs.StringVar(&f.allowDestinations, "allow-destinations", "", "comma-separated CIDRs deliveries may reach despite the SSRF guard (development)")
	fs.StringVar(&f.retrySchedule, "retry-schedule", "", "comma-separated delays before each retry (default 5s,5m,30m,2h,5h,10h,14h,20h,24h)")
	fs.StringVar(&f.maxPayload, "max-payload", "256KiB", "largest request body accepted for one event (bytes, KiB or MiB)")
	fs.StringVar(&f.shutdownGrace, "shutdown-grace", "10s", "how long shutdown waits for requests and delivery attempts in flight")
	fs.StringVar(&f.disableAfter, "disable-after", "120h", "disable an endpoint that fails again this long after its failure streak began (0: never)")
	fs.StringVar(&f.pollInterval, "poll-interval", "1s", "how often the dispatcher looks for due retries and expired leases")
	fs.StringVar(&f.claimInterval, "claim-interval", dispatch.DefaultClaimInterval.String(), "the least time between two claims of deliveries: claims wait this long to gather deliveries that arrive together")
	fs.StringVar(&f.leaseMargin, "lease-margin", "10s", "added to an endpoint's timeout to make a delivery's lease")
	fs.StringVar(&f.workers, "workers", "512", "delivery attempts this process makes at once, across endpoints")
	fs.StringVar(&f.retention, "retention", "720h", "delete events, their deliveries and attempts this long after the event was created, unless a delivery is pending (0: keep everything)")
	fs.StringVar(&f.retentionInterval, "retention-interval", "10m", "how often expired events are looked for and deleted")
	fs.StringVar(&f.tenantRateLimit, "tenant-rate-limit", "0", "events per second POST /v1/events accepts from one tenant, on each node (0: no limit)")
	fs.StringVar(&f.frameAncestors, "frame-ancestors", "", "comma-separated origins (https://app.example.com) that may show the web console and tenant portal in a frame (default: none)")
	fs.StringVar(&f.role, "role", "all", "what this process does: all, api (the HTTP API only; nothing is delivered) or worker (delivery; HTTP serves only health and metrics)")
}

// registerDatabase adds the flags every command that opens the database
// shares.
func (f *serveFlags) registerDatabase(fs *pflag.FlagSet) {
	fs.StringVar(&f.database, "database", "herald.db", "a SQLite file path, or a postgres:// URL")
	fs.StringVar(&f.secretKey, "secret-key", "", "32 bytes, base64: encrypts endpoint secrets at rest (SQLite default: a key file beside the database)")
}

// applyEnv gives every flag not set on the command line the value of its
// environment variable HERALD_<NAME>, if that is set.
func (f *serveFlags) applyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	f.fromEnv = map[string]string{}
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || err != nil || fl.Name == "help" {
			return
		}
		name := envName(fl.Name)
		if f.envNames != nil {
			name = f.envNames(fl.Name)
		}
		if v := getenv(name); v != "" {
			f.fromEnv[fl.Name] = name
			if e := fs.Set(fl.Name, v); e != nil {
				err = usageError{fmt.Errorf("invalid %s: %v", name, e)}
			}
		}
	})
	return err
}

// invalid returns the error for a bad value of a flag, naming the
// environment variable too when the value came from there.
func (f *serveFlags) invalid(flag string, err error) error {
	if env, ok := f.fromEnv[flag]; ok {
		return usageError{fmt.Errorf("invalid %s (--%s): %v", env, flag, err)}
	}
	return usageError{fmt.Errorf("invalid --%s: %v", flag, err)}
}

// envName is the environment variable of a flag: --allow-destinations reads
// HERALD_ALLOW_DESTINATIONS.
func envName(flag string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// parse checks every value and returns the configuration, or an error
// naming the first bad flag.
func (f *serveFlags) parse() (serveConfig, error) {
	var c serveConfig
	bad := func(flag string, err error) (serveConfig, error) {
		return serveConfig{}, f.invalid(flag, err)
	}
	var err error
	if c.Addr, err = parseAddr(f.addr); err != nil {
		return bad("addr", err)
	}
	c.PublicURL = f.publicURL
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	} else if err := checkPublicURL(c.PublicURL); err != nil {
		return bad("public-url", err)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.Database, c.SecretKey, err = f.parseDatabase(); err != nil {
		return serveConfig{}, err
	}
	if f.adminKey != "" && (len(f.adminKey) < 16 || strings.ContainsAny(f.adminKey, " \t\r\n")) {
		return bad("admin-key", errors.New("must be at least 16 characters with no white space"))
	}
	c.AdminKey = f.adminKey
	if c.AllowDestinations, err = parseDestinations(f.allowDestinations); err != nil {
		return bad("allow-destinations", err)
	}
	if c.RetrySchedule, err = parseSchedule(f.retrySchedule); err != nil {
		return bad("retry-schedule", err)
	}
	if c.MaxPayload, err = parseBytes(f.maxPayload); err != nil {
		return bad("max-payload", err)
	}
	if c.ShutdownGrace, err = time.ParseDuration(f.shutdownGrace); err != nil || c.ShutdownGrace < 0 {
		return bad("shutdown-grace", errors.New("must be a duration such as 10s"))
	}
	if c.DisableAfter, err = time.ParseDuration(f.disableAfter); err != nil || c.DisableAfter < 0 {
		return bad("disable-after", errors.New("must be a duration such as 120h, or 0 for never"))
	}
	if c.DisableAfter == 0 {
		c.DisableAfter = -1 // the dispatcher's "never"
	}
	if c.PollInterval, err = time.ParseDuration(f.pollInterval); err != nil || c.PollInterval <= 0 {
		return bad("poll-interval", errors.New("must be a positive duration such as 1s"))
	}
	if c.ClaimInterval, err = time.ParseDuration(f.claimInterval); err != nil || c.ClaimInterval <= 0 {
		return bad("claim-interval", errors.New("must be a positive duration such as 2ms"))
	}
	if c.LeaseMargin, err = time.ParseDuration(f.leaseMargin); err != nil || c.LeaseMargin <= 0 {
		return bad("lease-margin", errors.New("must be a positive duration such as 10s"))
	}
	if c.Workers, err = strconv.Atoi(f.workers); err != nil || c.Workers < 1 || c.Workers > 100000 {
		return bad("workers", errors.New("must be a whole number from 1 to 100000"))
	}
	if c.Retention, err = time.ParseDuration(f.retention); err != nil || c.Retention < 0 {
		return bad("retention", errors.New("must be a duration such as 720h (30 days), or 0 to keep everything"))
	}
	if c.RetentionInterval, err = time.ParseDuration(f.retentionInterval); err != nil || c.RetentionInterval <= 0 {
		return bad("retention-interval", errors.New("must be a positive duration such as 10m"))
	}
	if c.TenantRateLimit, err = strconv.ParseFloat(f.tenantRateLimit, 64); err != nil || !(c.TenantRateLimit >= 0 && c.TenantRateLimit <= 1e6) {
		return bad("tenant-rate-limit", errors.New("must be a number of events per second from 0 (no limit) to 1000000"))
	}
	if c.FrameAncestors, err = parseFrameAncestors(f.frameAncestors); err != nil {
		return bad("frame-ancestors", err)
	}
	switch f.role {
	case roleAll, roleAPI, roleWorker:
		c.Role = f.role
	default:
		return bad("role", errors.New("must be all, api or worker"))
	}
	return c, nil
}

// parseDatabase checks --database and --secret-key.
func (f *serveFlags) parseDatabase() (string, []byte, error) {
	if f.database == "" {
		return "", nil, f.invalid("database", errors.New("must not be empty"))
	}
	if f.secretKey == "" {
		if isPostgres(f.database) {
			// Every node must seal and open secrets with the same key; a
			// key file beside a shared database does not exist.
			return "", nil, usageError{errors.New("--secret-key (or HERALD_SECRET_KEY) is required with a PostgreSQL --database: 32 bytes, base64, the same on every node")}
		}
		return f.database, nil, nil
	}
	key, err := seal.ParseKey(f.secretKey)
	if err != nil {
		return "", nil, f.invalid("secret-key", fmt.Errorf("%v (want 32 bytes, base64)", err))
	}
	return f.database, key, nil
}

func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

func parseAddr(s string) (string, error) {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return s, nil
}

func checkPublicURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http or https URL", s)
	}
	return nil
}

// neverAllowed are destinations --allow-destinations may not open: cloud
// metadata services live there, and no webhook belongs there.
var neverAllowed = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
}

func parseDestinations(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range splitList(s) {
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 127.0.0.1/32", part)
		}
		p = p.Masked()
		for _, n := range neverAllowed {
			if p.Overlaps(n) {
				return nil, fmt.Errorf("%s overlaps %s, which is never allowed (cloud metadata and link-local)", p, n)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func parseSchedule(s string) ([]time.Duration, error) {
	parts := splitList(s)
	if len(parts) == 0 {
		return nil, nil
	}
	out := make([]time.Duration, 0, len(parts))
	for _, part := range parts {
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration such as 5s or 2h", part)
		}
		out = append(out, d)
	}
	if err := hook.ValidateSchedule(out); err != nil {
		return nil, err
	}
	return out, nil
}

// maxMaxPayload bounds --max-payload: an event is held in memory whole.
const maxMaxPayload = 64 << 20

// parseBytes reads a size in bytes with an optional KiB or MiB suffix.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	num := strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"B", 1}} {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > maxMaxPayload/mult {
		return 0, fmt.Errorf("%q is not a size from 1 byte to 64MiB, such as 256KiB", s)
	}
	return n * mult, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
