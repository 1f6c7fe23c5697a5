package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// rawPhase drives the receiver with a plain Go HTTP client for
// RawDuration, at Concurrency requests at once: bodies shaped and sized as
// Herald's envelopes, signed per request with the endpoint's secret, as
// Herald signs each attempt. It returns the requests answered 2xx per
// second: what this machine's loopback, the Go HTTP stack and the receiver
// allow, with no server in between. Slow endpoints are left out.
func rawPhase(ctx context.Context, cfg Config, rc *receiver, secrets []string) (float64, error) {
	var signers []*webhook.Signer
	var paths []string
	for g, s := range secrets {
		if g < cfg.SlowEndpoints {
			continue
		}
		sg, err := webhook.NewSigner(webhook.SchemeStandard, s)
		if err != nil {
			return 0, fmt.Errorf("raw phase: %w", err)
		}
		signers = append(signers, sg)
		paths = append(paths, rc.url+"/e/"+strconv.Itoa(g))
	}
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, DisableCompression: true},
		Timeout:   cfg.RequestTimeout,
	}
	defer client.CloseIdleConnections()
	pad := bytes.Repeat([]byte("x"), cfg.Payload)
	var seq, ok atomic.Int64
	var firstErr atomic.Pointer[error]
	start := time.Now()
	end := start.Add(cfg.RawDuration)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			var body bytes.Buffer
			for ctx.Err() == nil && time.Now().Before(end) {
				n := seq.Add(1)
				g := int(n % int64(len(paths)))
				id := rawPrefix + strconv.FormatInt(n, 10)
				envelope(&body, id, n, pad, cfg.Payload)
				err := rawPost(ctx, client, paths[g], signers[g], id, body.Bytes())
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ok.Load() == 0 {
		if p := firstErr.Load(); p != nil {
			return 0, fmt.Errorf("raw phase: %w", *p)
		}
		return 0, fmt.Errorf("raw phase: no request answered 2xx")
	}
	return float64(ok.Load()) / elapsed.Seconds(), nil
}

// envelope writes a body shaped as Herald's: {"id","type","createdAt","data"},
// with data as the producers write it.
func envelope(body *bytes.Buffer, id string, n int64, pad []byte, payload int) {
	const head, mid, end = `{"seq":`, `,"pad":"`, `"}`
	num := strconv.FormatInt(n, 10)
	p := max(0, payload-len(head)-len(num)-len(mid)-len(end))
	body.Reset()
	body.WriteString(`{"id":"`)
	body.WriteString(id)
	body.WriteString(`","type":"bench.type0","createdAt":"`)
	body.WriteString(time.Now().UTC().Format(time.RFC3339Nano))
	body.WriteString(`","data":`)
	body.WriteString(head)
	body.WriteString(num)
	body.WriteString(mid)
	body.Write(pad[:p])
	body.WriteString(end)
	body.WriteByte('}')
}

// rawPost signs and posts one body, and fails unless the answer is 2xx.
func rawPost(ctx context.Context, client *http.Client, url string, s *webhook.Signer, id string, body []byte) error {
	h, err := s.Sign(id, time.Now(), body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "herald-bench-raw")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: status %d", url, resp.StatusCode)
	}
	return nil
}
