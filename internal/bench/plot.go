package bench

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Plot geometry, in SVG user units.
const (
	plotWidth   = 800
	panelHeight = 240
	marginLeft  = 70
	marginRight = 20
	marginTop   = 50
	panelGap    = 60
	marginBelow = 40
)

// series is one line of a panel.
type series struct {
	name   string
	color  string
	values []float64
}

// WritePlot draws r's timeline as an SVG image: deliveries (and events
// accepted) per second above, latency p50 and p99 per second below, one
// point per second of the run.
func (r *Result) WritePlot(w io.Writer) error {
	bw := bufio.NewWriter(w)
	height := marginTop + 2*panelHeight + panelGap + marginBelow
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		plotWidth, height, plotWidth, height)
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotWidth, height)
	c := r.Config
	title := fmt.Sprintf("herald bench: %s, %d×%d endpoints, fanout %d, rate %s, batch %d — %.0f deliveries/s, p50 %.1f ms, p99 %.1f ms, lost %d",
		c.Target, c.Tenants, c.Endpoints, c.Fanout, rateLabel(c.Rate), c.Batch, r.DeliveriesPerSec, r.P50Ms, r.P99Ms, r.Lost)
	fmt.Fprintf(bw, `<text x="%d" y="24" font-size="13">%s</text>`+"\n", marginLeft, html.EscapeString(title))

	n := len(r.Timeline)
	events, deliveries := make([]float64, n), make([]float64, n)
	p50, p99 := make([]float64, n), make([]float64, n)
	for i, s := range r.Timeline {
		events[i], deliveries[i] = float64(s.Events), float64(s.Deliveries)
		p50[i], p99[i] = s.P50Ms, s.P99Ms
	}
	panel(bw, marginTop, "per second", n, []series{
		{"deliveries/s", "#1f77b4", deliveries},
		{"events accepted/s", "#aaaaaa", events},
	})
	panel(bw, marginTop+panelHeight+panelGap, "ms, ingest to receipt", n, []series{
		{"p50", "#2ca02c", p50},
		{"p99", "#d62728", p99},
	})
	fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="middle">seconds since the first event was sent</text>`+"\n",
		marginLeft+(plotWidth-marginLeft-marginRight)/2, height-8)
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

// panel draws one chart with its top edge at top: axes, grid, ticks, a
// legend and a polyline per series.
func panel(w io.Writer, top int, unit string, n int, lines []series) {
	inner := plotWidth - marginLeft - marginRight
	peak := 0.0
	for _, s := range lines {
		for _, v := range s.values {
			peak = math.Max(peak, v)
		}
	}
	ymax, step := niceScale(peak)
	xspan := float64(max(n-1, 1))
	x := func(i int) float64 { return marginLeft + float64(i)/xspan*float64(inner) }
	y := func(v float64) float64 { return float64(top+panelHeight) - v/ymax*panelHeight }

	for v := 0.0; v <= ymax+step/2; v += step {
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", marginLeft, y(v), marginLeft+inner, y(v))
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginLeft-6, y(v)+4, tickLabel(v))
	}
	xstep := max(1, int(math.Ceil(xspan/10)))
	for i := 0; i < n; i += xstep {
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", x(i), top+panelHeight+16, i)
	}
	fmt.Fprintf(w, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>`+"\n", marginLeft, top, inner, panelHeight)
	fmt.Fprintf(w, `<text x="%d" y="%d">%s</text>`+"\n", marginLeft, top-8, html.EscapeString(unit))
	lx := marginLeft + inner
	for i := len(lines) - 1; i >= 0; i-- {
		s := lines[i]
		var pts strings.Builder
		for j, v := range s.values {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(j), y(v))
		}
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.color, strings.TrimSpace(pts.String()))
		lx -= 8 * (len(s.name) + 4)
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			lx, top-14, s.color, lx+18, top-8, html.EscapeString(s.name))
	}
}

// niceScale returns an axis maximum at or above peak and a tick step of 1,
// 2 or 5 times a power of ten, giving four to eight ticks above zero.
func niceScale(peak float64) (ymax, step float64) {
	if peak <= 0 {
		return 1, 0.25
	}
	raw := peak / 8
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return math.Ceil(peak/step) * step, step
}

func tickLabel(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", math.Round(v*1000)/1000)
}

func rateLabel(rate float64) string {
	if rate == 0 {
		return "max"
	}
	return fmt.Sprintf("%g/s", rate)
}
