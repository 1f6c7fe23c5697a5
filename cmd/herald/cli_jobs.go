package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/client"
)

func (e *apiEnv) jobsCmd() *cobra.Command {
	c := group("jobs", "Show background jobs (such as recoveries)")
	c.AddCommand(&cobra.Command{
		Use: "get ID", Short: "Show a job and its progress", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return e.call(cmd, func(c *client.Client) (any, error) { return c.GetJob(ctxOf(cmd), a[0]) }, fieldRows)
		},
	})
	return c
}

// follow polls a job every interval until it is no longer running, drawing
// its progress on standard error, and returns it as it ended.
func (e *apiEnv) follow(cmd *cobra.Command, c *client.Client, job client.Job, interval time.Duration) (client.Job, error) {
	bar := newProgress(e.stderr, isTerminal(e.stderr))
	ctx := ctxOf(cmd)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		bar.draw(job)
		if job.Status != "running" {
			bar.end()
			return job, nil
		}
		select {
		case <-ctx.Done():
			bar.end()
			return job, fmt.Errorf("stopped following job %s (it goes on; see herald jobs get %s): %w", job.ID, job.ID, ctx.Err())
		case <-t.C:
		}
		var err error
		if job, err = c.GetJob(ctx, job.ID); err != nil {
			bar.end()
			return job, err
		}
	}
}

// progress draws a job's progress: redrawn in place with \r on a
// terminal, else one line per change, so that logs stay readable.
type progress struct {
	w    io.Writer
	tty  bool
	last string
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

const barWidth = 30

func (p *progress) draw(j client.Job) {
	line := progressLine(j)
	if line == p.last {
		return
	}
	p.last = line
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// end finishes the line on a terminal.
func (p *progress) end() {
	if p.tty && p.last != "" {
		fmt.Fprintln(p.w)
	}
}

// progressLine is "[#######-------] 45% 450/1000 events  running".
func progressLine(j client.Job) string {
	frac := 0.0
	switch {
	case j.Total > 0:
		frac = min(1, float64(j.Done)/float64(j.Total))
	case j.Status != "running":
		frac = 1
	}
	n := int(frac * barWidth)
	return fmt.Sprintf("[%s%s] %3d%% %d/%d events  %s", strings.Repeat("#", n), strings.Repeat("-", barWidth-n),
		int(frac*100), j.Done, j.Total, j.Status)
}
