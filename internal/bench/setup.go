package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
)

// api makes the harness's requests to Herald with the admin key.
type api struct {
	base   string
	key    string
	client *http.Client
}

// do sends a JSON body (if not nil) and returns the status and the body of
// the answer.
func (a *api) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	return a.doInto(ctx, method, path, body, new(bytes.Buffer))
}

// doInto is do reading the answer into buf, whose bytes it returns: a
// producer reuses one buffer for the answers to all of its batches.
func (a *api) doInto(ctx context.Context, method, path string, body []byte, buf *bytes.Buffer) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if n := resp.ContentLength; n > 0 && n <= maxAnswer {
		buf.Grow(int(n) + bytes.MinRead) // ReadFrom wants MinRead free to read without growing
	}
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, maxAnswer))
	return resp.StatusCode, buf.Bytes(), err
}

// maxAnswer bounds what the harness reads of an answer of the API.
const maxAnswer = 64 << 20

// create posts v as JSON to path, expects 201 and decodes the answer into
// out.
func (a *api) create(ctx context.Context, path string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	code, raw, err := a.do(ctx, "POST", path, body)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	if code != http.StatusCreated {
		return fmt.Errorf("POST %s: status %d: %s", path, code, clip(raw))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("POST %s: decode answer: %w", path, err)
	}
	return nil
}

// setupParallelism is how many tenants are registered at once.
const setupParallelism = 4

// setup registers the run's tenants and their endpoints, and tells the
// receiver each endpoint's secret. It returns the tenant ids and the
// endpoints' secrets, by global endpoint number.
func setup(ctx context.Context, cfg Config, a *api, rc *receiver, run string) ([]string, []string, error) {
	tenants := make([]string, cfg.Tenants)
	secrets := make([]string, cfg.totalEndpoints())
	schedule := make([]string, len(cfg.RetrySchedule))
	for i, d := range cfg.RetrySchedule {
		schedule[i] = d.String()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(setupParallelism)
	for t := range cfg.Tenants {
		tenants[t] = "bench_" + run + "_" + strconv.Itoa(t)
		g.Go(func() error {
			var tenant struct{ ID string }
			if err := a.create(gctx, "/v1/tenants", map[string]any{"id": tenants[t]}, &tenant); err != nil {
				return err
			}
			for j := range cfg.Endpoints {
				gi := t*cfg.Endpoints + j
				ep := map[string]any{
					"tenantId":      tenants[t],
					"url":           rc.url + "/e/" + strconv.Itoa(gi),
					"events":        cfg.subscriptions(j),
					"retrySchedule": schedule,
					"description":   "herald bench",
				}
				if cfg.MaxInFlight > 0 {
					ep["maxInFlight"] = cfg.MaxInFlight
				}
				if cfg.SlowEndpoints > 0 && cfg.SlowDelay > 0 {
					// The endpoint's timeout must outlast the receiver's hold.
					ep["timeout"] = min(max(2*cfg.SlowDelay+time.Second, defaultEndpointTimeout), maxEndpointTimeout).String()
				}
				var out struct{ Secret string }
				if err := a.create(gctx, "/v1/webhook-endpoints", ep, &out); err != nil {
					return err
				}
				secrets[gi] = out.Secret
				if err := rc.trust(gi, out.Secret); err != nil {
					return fmt.Errorf("endpoint secret: %w", err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return tenants, secrets, nil
}

// Herald's default and largest timeout of an endpoint.
const (
	defaultEndpointTimeout = 15 * time.Second
	maxEndpointTimeout     = 30 * time.Second
)

// clip shortens an answer for an error message.
func clip(b []byte) string {
	const n = 300
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
