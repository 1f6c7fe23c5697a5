package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/client"
)

func (e *apiEnv) endpointsCmd() *cobra.Command {
	c := group("endpoints", "Manage webhook endpoints", "endpoint", "ep")
	c.AddCommand(e.endpointCreateCmd(), e.endpointListCmd(), e.endpointUpdateCmd(), e.endpointRecoverCmd(), e.endpointRotateCmd())
	one := func(use, short string, fn func(*cobra.Command, *client.Client, string) (any, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " ID", Short: short, Args: args(cobra.ExactArgs(1)),
			RunE: func(cmd *cobra.Command, a []string) error {
				return e.call(cmd, func(c *client.Client) (any, error) { return fn(cmd, c, a[0]) }, fieldRows)
			},
		}
	}
	var reason string
	disable := one("disable", "Pause an endpoint; its pending deliveries wait", func(cmd *cobra.Command, c *client.Client, id string) (any, error) {
		return c.DisableEndpoint(ctxOf(cmd), id, reason)
	})
	disable.Flags().StringVar(&reason, "reason", "", "why, shown on the endpoint")
	c.AddCommand(
		one("get", "Show an endpoint", func(cmd *cobra.Command, c *client.Client, id string) (any, error) {
			return c.GetEndpoint(ctxOf(cmd), id)
		}),
		one("enable", "Resume an endpoint: health reset, waiting deliveries due at once", func(cmd *cobra.Command, c *client.Client, id string) (any, error) {
			return c.EnableEndpoint(ctxOf(cmd), id)
		}),
		disable,
		one("secret", "Show an endpoint's signing secret (and old ones that still sign)", func(cmd *cobra.Command, c *client.Client, id string) (any, error) {
			return c.EndpointSecret(ctxOf(cmd), id)
		}),
		one("stats", "Deliveries, attempts, success rate and latency over the last hour, day and week", func(cmd *cobra.Command, c *client.Client, id string) (any, error) {
			return c.EndpointStats(ctxOf(cmd), id)
		}),
		one("test", "Send a signed herald.ping now and show the attempt", func(cmd *cobra.Command, c *client.Client, id string) (any, error) {
			return c.TestEndpoint(ctxOf(cmd), id)
		}),
		&cobra.Command{
			Use: "delete ID", Short: "Delete an endpoint; its pending deliveries are canceled", Args: args(cobra.ExactArgs(1)),
			RunE: func(cmd *cobra.Command, a []string) error {
				return e.done(cmd, "deleted endpoint "+a[0], func(c *client.Client) error { return c.DeleteEndpoint(ctxOf(cmd), a[0]) })
			},
		},
	)
	return c
}

// endpointFlags are the settings of an endpoint, shared by create and update.
type endpointFlags struct {
	url, description, secret, scheme, timeout string
	events, retrySchedule                     []string
	headers, metadata                         []string
	rateLimit                                 float64
	maxInFlight                               int
}

func (f *endpointFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "where deliveries are sent (https://…)")
	fs.StringSliceVar(&f.events, "events", nil, "event types, comma-separated: exact names, prefix.* or *")
	fs.StringVar(&f.description, "description", "", "a description")
	fs.StringVar(&f.scheme, "scheme", "", "signature scheme: standard, ed25519 or x-signature")
	fs.StringArrayVar(&f.headers, "header", nil, "'Name: value' sent with every delivery, repeated")
	fs.StringArrayVar(&f.metadata, "metadata", nil, "name=value, repeated")
	fs.Float64Var(&f.rateLimit, "rate-limit", 0, "requests per second at most (0: no limit)")
	fs.IntVar(&f.maxInFlight, "max-in-flight", 0, "attempts in flight at most (default 8)")
	fs.StringVar(&f.timeout, "timeout", "", "per attempt, such as 15s")
	fs.StringSliceVar(&f.retrySchedule, "retry-schedule", nil, "delays before each retry, comma-separated (default: the server's)")
}

func (e *apiEnv) endpointCreateCmd() *cobra.Command {
	var f endpointFlags
	var tenant string
	cmd := &cobra.Command{
		Use: "create --url URL --events TYPE,…", Short: "Register a webhook endpoint; prints its signing secret",
		Example: "  herald endpoints create --url https://merchant.example.com/hooks --events payout.paid,payout.failed",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.url == "" || len(f.events) == 0 {
				return usageError{fmt.Errorf("endpoints create: --url and --events are required")}
			}
			headers, err := keyValues("header", f.headers, ":")
			if err != nil {
				return err
			}
			md, err := keyValues("metadata", f.metadata, "=")
			if err != nil {
				return err
			}
			in := client.EndpointInput{
				TenantID: tenant, URL: f.url, Description: f.description, Events: f.events, Secret: f.secret,
				SignatureScheme: f.scheme, Headers: headers, RateLimit: f.rateLimit, Timeout: f.timeout,
				RetrySchedule: f.retrySchedule, Metadata: md,
			}
			if cmd.Flags().Changed("max-in-flight") {
				in.MaxInFlight = &f.maxInFlight
			}
			return e.call(cmd, func(c *client.Client) (any, error) { return c.CreateEndpoint(ctxOf(cmd), in) }, fieldRows)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&f.secret, "secret", "", "the signing secret (default: generated)")
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (with the admin key)")
	return cmd
}

func (e *apiEnv) endpointListCmd() *cobra.Command {
	var lf listFlags
	var tenant string
	cmd := &cobra.Command{
		Use: "list", Short: "List webhook endpoints", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := e.client()
			if err != nil {
				return err
			}
			pg, err := fetchList(ctxOf(cmd), &lf, func(ctx context.Context, lp client.ListParams) (client.Page[client.Endpoint], error) {
				return cl.ListEndpoints(ctx, client.EndpointFilter{ListParams: lp, TenantID: tenant})
			})
			if err != nil {
				return err
			}
			return printPage(e, pg, []string{"ID", "TENANT", "STATUS", "URL", "EVENTS", "FAILURES"}, func(ep client.Endpoint) []string {
				return []string{ep.ID, ep.TenantID, ep.Status, ep.URL, strings.Join(ep.Events, ","), strconv.Itoa(ep.ConsecutiveFailures)}
			})
		},
	}
	lf.register(cmd.Flags())
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant's (with the admin key)")
	return cmd
}

func (e *apiEnv) endpointUpdateCmd() *cobra.Command {
	var f endpointFlags
	var reset []string
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change an endpoint: only the flags given change",
		Long: `Update changes the fields given by flags and leaves the rest. --header 'Name:'
(no value) removes that header; --reset rateLimit,timeout returns fields to
their defaults.`,
		Example: "  herald endpoints update ep_… --events 'payout.*' --timeout 10s",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			var p client.EndpointPatch
			fs := cmd.Flags()
			str := func(name string, v string) *string {
				if fs.Changed(name) {
					return &v
				}
				return nil
			}
			p.URL, p.Description, p.SignatureScheme, p.Timeout = str("url", f.url), str("description", f.description), str("scheme", f.scheme), str("timeout", f.timeout)
			if fs.Changed("events") {
				p.Events = f.events
			}
			if fs.Changed("retry-schedule") {
				p.RetrySchedule = f.retrySchedule
			}
			if fs.Changed("rate-limit") {
				p.RateLimit = &f.rateLimit
			}
			if fs.Changed("max-in-flight") {
				p.MaxInFlight = &f.maxInFlight
			}
			var err error
			if p.Headers, err = patchMap("header", f.headers, ":"); err != nil {
				return err
			}
			if p.Metadata, err = patchMap("metadata", f.metadata, "="); err != nil {
				return err
			}
			p.Reset = reset
			return e.call(cmd, func(c *client.Client) (any, error) { return c.UpdateEndpoint(ctxOf(cmd), a[0], p) }, fieldRows)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringSliceVar(&reset, "reset", nil, "fields to return to their defaults, by JSON name (rateLimit, timeout, retrySchedule, …)")
	return cmd
}

// patchMap parses name<sep>value flags of a merge patch; an empty value
// removes the entry.
func patchMap(flag string, kvs []string, sep string) (map[string]*string, error) {
	m, err := keyValues(flag, kvs, sep)
	if err != nil || m == nil {
		return nil, err
	}
	out := map[string]*string{}
	for k, v := range m {
		if v == "" {
			out[k] = nil
		} else {
			out[k] = &v
		}
	}
	return out, nil
}

func (e *apiEnv) endpointRotateCmd() *cobra.Command {
	var in client.RotateInput
	cmd := &cobra.Command{
		Use: "rotate-secret ID", Short: "Give an endpoint a new signing secret; the old one keeps signing a while", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return e.call(cmd, func(c *client.Client) (any, error) { return c.RotateEndpointSecret(ctxOf(cmd), a[0], in) }, fieldRows)
		},
	}
	cmd.Flags().StringVar(&in.Secret, "secret", "", "the new secret (default: generated)")
	cmd.Flags().StringVar(&in.ExpireOldAfter, "expire-old-after", "", "how long the old secret keeps signing (default 24h; 0s: stop at once)")
	return cmd
}

func (e *apiEnv) endpointRecoverCmd() *cobra.Command {
	var since, until string
	var wait bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "recover ID --since TIME",
		Short: "Retry an endpoint's failed and missed deliveries of events created in a window",
		Long: `Recover starts a job on the server: for events created from --since to --until
(default now), the endpoint's failed deliveries get a fresh retry schedule,
due at once, and events it never got (while it was disabled) get a delivery.
With --wait it follows the job with a progress bar until it ends.`,
		Example: "  herald endpoints recover ep_… --since 6h --wait",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			now := time.Now()
			s, err := parseTimeArg("since", since, now)
			if err != nil {
				return err
			}
			if s.IsZero() {
				return usageError{fmt.Errorf("endpoints recover: --since is required")}
			}
			u, err := parseTimeArg("until", until, now)
			if err != nil {
				return err
			}
			if interval <= 0 {
				return usageError{fmt.Errorf("invalid --poll-interval %s: want a positive duration", interval)}
			}
			in := client.RecoverInput{Since: s}
			if !u.IsZero() {
				in.Until = &u
			}
			cl, err := e.client()
			if err != nil {
				return err
			}
			job, err := cl.RecoverEndpoint(ctxOf(cmd), a[0], in)
			if err != nil {
				return err
			}
			if wait {
				if job, err = e.follow(cmd, cl, job, interval); err != nil {
					return err
				}
			}
			if err := e.print(job, func(tw *tableWriter) { tw.fields(job) }); err != nil {
				return err
			}
			if job.Status == "failed" {
				return fmt.Errorf("job %s failed: %s", job.ID, dash(job.Error))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "start of the window: RFC 3339, or a duration ago (6h)")
	cmd.Flags().StringVar(&until, "until", "", "end of the window (default now)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the job with a progress bar until it ends")
	cmd.Flags().DurationVar(&interval, "poll-interval", 500*time.Millisecond, "how often --wait asks for the job")
	return cmd
}
