package console

import (
	"context"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// chartAttempts bounds the attempts a 24-hour chart reads (20 pages).
const chartAttempts = 5000

// chart is an endpoint's last 24 hours, by hour, oldest first, drawn as
// two server-rendered SVG images.
type chart struct {
	Hours    [24]hourStats
	Attempts int
	Capped   bool // more attempts than chartAttempts: the latest hours are missing
	Counts   template.HTML
	Latency  template.HTML
}

type hourStats struct {
	Succeeded, Failed int
	P50, P99          time.Duration
	durations         []time.Duration
}

// dayChart reads the endpoint's attempts of the last 24 hours from the
// attempt log (oldest first, at most chartAttempts) and draws them.
func (c *Console) dayChart(ctx context.Context, endpointID string, now time.Time) (chart, error) {
	var ch chart
	start := now.Truncate(time.Hour).Add(-23 * time.Hour)
	f := hook.AttemptLogFilter{EndpointID: endpointID, Since: start, ListParams: hook.ListParams{Limit: hook.MaxLimit}}
	for {
		p, err := c.cfg.Store.ListAttemptLog(ctx, f)
		if err != nil {
			return chart{}, fmt.Errorf("list attempt log: %w", err)
		}
		for _, a := range p.Items {
			i := int(a.StartedAt.Sub(start) / time.Hour)
			if i < 0 || i >= len(ch.Hours) {
				continue
			}
			h := &ch.Hours[i]
			if a.Succeeded() {
				h.Succeeded++
			} else {
				h.Failed++
			}
			h.durations = append(h.durations, a.Duration)
			ch.Attempts++
		}
		if len(p.Items) < hook.MaxLimit {
			break
		}
		if ch.Attempts >= chartAttempts {
			ch.Capped = true
			break
		}
		f.Cursor = p.Next
	}
	for i := range ch.Hours {
		h := &ch.Hours[i]
		slices.Sort(h.durations)
		h.P50, h.P99 = percentile(h.durations, 0.50), percentile(h.durations, 0.99)
		h.durations = nil
	}
	ch.Counts = countsSVG(&ch, start)
	ch.Latency = latencySVG(&ch, start)
	return ch, nil
}

// percentile interpolates linearly between the two nearest values of
// sorted ds, as EndpointStats does; zero for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	x := p * float64(len(ds)-1)
	i := int(x)
	if i+1 >= len(ds) {
		return ds[len(ds)-1]
	}
	return ds[i] + time.Duration((x-float64(i))*float64(ds[i+1]-ds[i]))
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 480.0, 140.0
	plotTop        = 10.0
	plotBottom     = 120.0
	plotLeft       = 36.0
	barW           = (chartW - plotLeft) / 24
)

// countsSVG draws successes and failures per hour as stacked bars. The
// SVG holds only numbers and fixed words.
func countsSVG(ch *chart, start time.Time) template.HTML {
	top := 1
	for _, h := range ch.Hours {
		top = max(top, h.Succeeded+h.Failed)
	}
	scale := (plotBottom - plotTop) / float64(top)
	var b strings.Builder
	svgOpen(&b, "Attempts per hour over the last 24 hours: successes in green, failures in red")
	axes(&b, fmt.Sprint(top), start)
	for i, h := range ch.Hours {
		x := plotLeft + float64(i)*barW + 1
		sh, fh := float64(h.Succeeded)*scale, float64(h.Failed)*scale
		if h.Succeeded > 0 {
			fmt.Fprintf(&b, `<rect class="ok" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%d succeeded</title></rect>`,
				x, plotBottom-sh, barW-2, sh, h.Succeeded)
		}
		if h.Failed > 0 {
			fmt.Fprintf(&b, `<rect class="bad" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%d failed</title></rect>`,
				x, plotBottom-sh-fh, barW-2, fh, h.Failed)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// latencySVG draws the p50 and p99 attempt durations of each hour that had
// attempts.
func latencySVG(ch *chart, start time.Time) template.HTML {
	top := time.Millisecond
	for _, h := range ch.Hours {
		top = max(top, h.P99)
	}
	scale := (plotBottom - plotTop) / float64(top)
	var b strings.Builder
	svgOpen(&b, "Attempt latency per hour over the last 24 hours: p50 in blue, p99 in orange")
	axes(&b, fmt.Sprintf("%.0f ms", float64(top.Microseconds())/1000), start)
	for _, line := range []struct {
		class string
		get   func(hourStats) time.Duration
	}{{"p50", func(h hourStats) time.Duration { return h.P50 }}, {"p99", func(h hourStats) time.Duration { return h.P99 }}} {
		var pts []string
		for i, h := range ch.Hours {
			if h.Succeeded+h.Failed == 0 {
				continue
			}
			x := plotLeft + float64(i)*barW + barW/2
			y := plotBottom - float64(line.get(h))*scale
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="2.5"><title>%s %.1f ms</title></circle>`,
				line.class, x, y, line.class, float64(line.get(h).Microseconds())/1000)
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline class="%s" points="%s"/>`, line.class, strings.Join(pts, " "))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func svgOpen(b *strings.Builder, label string) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, chartW, chartH, label)
}

// axes draws the frame, the top value and the hours (UTC) under the bars.
func axes(b *strings.Builder, topLabel string, start time.Time) {
	fmt.Fprintf(b, `<line class="axis" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/>`, plotLeft, plotBottom, chartW, plotBottom)
	fmt.Fprintf(b, `<line class="axis" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/>`, plotLeft, plotTop, plotLeft, plotBottom)
	fmt.Fprintf(b, `<text class="label" x="%.0f" y="%.0f" text-anchor="end">%s</text>`, plotLeft-3, plotTop+8, topLabel)
	fmt.Fprintf(b, `<text class="label" x="%.0f" y="%.0f" text-anchor="end">0</text>`, plotLeft-3, plotBottom)
	for i := 0; i < 24; i += 6 {
		fmt.Fprintf(b, `<text class="label" x="%.1f" y="%.0f">%s</text>`,
			plotLeft+float64(i)*barW, plotBottom+14, start.Add(time.Duration(i)*time.Hour).UTC().Format("15:04"))
	}
	fmt.Fprintf(b, `<text class="label" x="%.0f" y="%.0f" text-anchor="end">UTC</text>`, chartW, plotBottom+14)
}
