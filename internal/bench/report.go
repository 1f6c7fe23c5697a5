package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// fill computes the figures of the send and drain phases. The latency of a
// delivery is the time its first 2xx-answered request reached the receiver
// minus the time just before the producer sent the request that carried
// its event: ingest to receipt, as a producer sees it, including the
// ingest's own commit.
func (r *Result) fill(cfg Config, rc *receiver, l *load, events []sent, sendTime time.Duration) {
	r.Accepted = int64(len(events))
	r.Rejected = l.rejected.Load()
	r.Failed = l.failed.Load()
	r.Sent = r.Accepted + r.Rejected + r.Failed
	r.Expected = r.Accepted * int64(cfg.Fanout)
	r.SendSeconds = sendTime.Seconds()
	if sendTime > 0 {
		r.EventsPerSec = float64(r.Accepted) / sendTime.Seconds()
	}
	if p := l.lastErr.Load(); p != nil {
		r.LastError = *p
	}
	if p := rc.lastBad.Load(); p != nil && r.LastError == "" {
		r.LastError = *p
	}
	r.BadSignatures = rc.badSigs.Load()
	r.InjectedFailures = rc.injected.Load()
	r.Requests = rc.requests.Load() - rc.raw.Load()

	lat := make([]time.Duration, 0, r.Expected)
	var other []time.Duration
	type bucket struct {
		events int
		lat    []time.Duration
	}
	var buckets []bucket
	at := func(t time.Time) *bucket {
		i := max(0, int(t.Sub(l.start)/time.Second))
		for len(buckets) <= i {
			buckets = append(buckets, bucket{})
		}
		return &buckets[i]
	}
	var last time.Time
	for _, e := range events {
		at(e.at).events++
		for _, g := range cfg.matches(int(e.tenant), int(e.typ)) {
			a, ok := rc.arrival(g, e.id)
			if !ok {
				r.Lost++
				continue
			}
			r.Delivered++
			r.Duplicates += int64(a.n - 1)
			d := a.first.Sub(e.at)
			lat = append(lat, d)
			if g >= cfg.SlowEndpoints && cfg.SlowEndpoints > 0 {
				other = append(other, d)
			}
			b := at(a.first)
			b.lat = append(b.lat, d)
			if a.first.After(last) {
				last = a.first
			}
		}
	}
	r.Unexpected = max(0, rc.delivered.Load()-r.Delivered)
	if r.Delivered > 0 {
		r.DeliveriesPerSec = float64(r.Delivered) / last.Sub(l.start).Seconds()
	}
	if r.RawPerSec != nil && *r.RawPerSec > 0 {
		ratio := r.DeliveriesPerSec / *r.RawPerSec
		r.RatioToRaw = &ratio
	}
	slices.Sort(lat)
	r.P50Ms, r.P99Ms, r.MaxMs = ms(quantile(lat, 0.5)), ms(quantile(lat, 0.99)), ms(quantile(lat, 1))
	if cfg.SlowEndpoints > 0 {
		slices.Sort(other)
		p50, p99 := ms(quantile(other, 0.5)), ms(quantile(other, 0.99))
		r.OtherP50Ms, r.OtherP99Ms = &p50, &p99
	}
	r.Timeline = make([]Second, len(buckets))
	for i, b := range buckets {
		slices.Sort(b.lat)
		r.Timeline[i] = Second{Second: i, Events: b.events, Deliveries: len(b.lat),
			P50Ms: ms(quantile(b.lat, 0.5)), P99Ms: ms(quantile(b.lat, 0.99))}
	}
}

// fillProc sets the child's memory and CPU figures, when they were read.
func (r *Result) fillProc(s *procStats) {
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.peak == 0 {
		return // not Linux, or the process was gone: unknown
	}
	mb := float64(s.peak) / (1 << 20)
	cpu := s.cpuEnd
	r.PeakRSSMB, r.CPUSeconds = &mb, &cpu
	if r.Delivered > 0 {
		per := (s.cpuEnd - s.cpuStart) * 1000 / float64(r.Delivered)
		r.CPUMsPerDelivery = &per
	}
}

// quantile returns the nearest-rank q-quantile of sorted, or 0 when it is
// empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteTable writes r as a table for people.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	c := r.Config
	rate := "as fast as possible"
	if c.Rate > 0 {
		rate = fmt.Sprintf("%g events/s", c.Rate)
	}
	fmt.Fprintf(tw, "target\t%s, %d tenants x %d endpoints, fanout %d, %d-byte payloads\n", c.Target, c.Tenants, c.Endpoints, c.Fanout, c.Payload)
	fmt.Fprintf(tw, "load\t%s for %s, %d producers, batches of %d\n", rate, c.Duration, c.Concurrency, c.Batch)
	if c.FailRate > 0 || c.SlowEndpoints > 0 {
		fmt.Fprintf(tw, "faults\tfail rate %g, %d slow endpoints (%s)\n", c.FailRate, c.SlowEndpoints, c.SlowDelay)
	}
	fmt.Fprintf(tw, "events\t%d accepted of %d sent (%d rejected, %d without answer), %.0f/s\n", r.Accepted, r.Sent, r.Rejected, r.Failed, r.EventsPerSec)
	fmt.Fprintf(tw, "deliveries\t%d of %d received, %.0f/s\n", r.Delivered, r.Expected, r.DeliveriesPerSec)
	fmt.Fprintf(tw, "raw limit\t%s requests/s, Herald at %s of it\n", optional(r.RawPerSec, "%.0f"), optional(r.RatioToRaw, "%.2f"))
	fmt.Fprintf(tw, "latency\tp50 %.1f ms, p99 %.1f ms, max %.1f ms (ingest to receipt)\n", r.P50Ms, r.P99Ms, r.MaxMs)
	if r.OtherP50Ms != nil {
		fmt.Fprintf(tw, "  not slow\tp50 %.1f ms, p99 %.1f ms\n", *r.OtherP50Ms, *r.OtherP99Ms)
	}
	fmt.Fprintf(tw, "lost\t%d\n", r.Lost)
	fmt.Fprintf(tw, "duplicates\t%d\n", r.Duplicates)
	fmt.Fprintf(tw, "requests\t%d to the receiver, %d failures injected, %d bad signatures, %d unexpected\n", r.Requests, r.InjectedFailures, r.BadSignatures, r.Unexpected)
	fmt.Fprintf(tw, "server\tpeak RSS %s MiB, CPU %s s (%s ms per delivery)\n", optional(r.PeakRSSMB, "%.1f"), optional(r.CPUSeconds, "%.2f"), optional(r.CPUMsPerDelivery, "%.3f"))
	fmt.Fprintf(tw, "harness\tCPU %s s while sending and draining\n", optional(r.HarnessCPUSeconds, "%.2f"))
	fmt.Fprintf(tw, "phases\tsend %.1fs, drain %.1fs\n", r.SendSeconds, r.DrainSeconds)
	if r.LastError != "" {
		fmt.Fprintf(tw, "last error\t%s\n", strings.ReplaceAll(r.LastError, "\n", " "))
	}
	return tw.Flush()
}

func optional(v *float64, format string) string {
	if v == nil {
		return "unknown"
	}
	return fmt.Sprintf(format, *v)
}
