package bench

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// progress writes a line every ProgressInterval: the phase, its elapsed
// time, events accepted, deliveries received and their rate over the last
// interval. With Redraw the line is rewritten in place.
type progress struct {
	cfg Config
	rc  *receiver

	mu    sync.Mutex
	name  string
	load  *load
	since time.Time
	last  int64     // deliveries at the previous line
	lastT time.Time // time of the previous line
	width int       // of the previous line, to blank it when redrawn
}

// phase names what the run is doing now; l is the send phase's load, if
// it has begun.
func (p *progress) phase(name string, l *load) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.name, p.since = name, time.Now()
	if l != nil {
		p.load = l
	}
}

// start begins writing and returns the function that stops it, which may
// be called more than once.
func (p *progress) start() (stop func()) {
	if p.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(p.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.line()
			case <-done:
				return
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.cfg.Redraw && p.width > 0 {
				fmt.Fprintln(p.cfg.Progress)
			}
		})
	}
}

func (p *progress) line() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	got := p.rc.delivered.Load()
	rate := 0.0
	if !p.lastT.IsZero() {
		rate = float64(got-p.last) / now.Sub(p.lastT).Seconds()
	}
	p.last, p.lastT = got, now
	var b strings.Builder
	fmt.Fprintf(&b, "%-5s %5.1fs", p.name, now.Sub(p.since).Seconds())
	if p.name == "raw" {
		fmt.Fprintf(&b, "  raw requests %d", p.rc.raw.Load())
	} else if p.load != nil {
		fmt.Fprintf(&b, "  events accepted %d  deliveries %d  %.0f/s", p.load.accepted.Load(), got, rate)
	}
	s := b.String()
	if !p.cfg.Redraw {
		fmt.Fprintln(p.cfg.Progress, s)
		return
	}
	pad := max(0, p.width-len(s))
	fmt.Fprintf(p.cfg.Progress, "\r%s%s", s, strings.Repeat(" ", pad))
	p.width = len(s)
}
