package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/client"
)

// ANSI colours of tail's lines, by outcome.
const (
	colorGreen  = "\x1b[32m"
	colorYellow = "\x1b[33m"
	colorRed    = "\x1b[31m"
	colorReset  = "\x1b[0m"
)

func (e *apiEnv) tailCmd() *cobra.Command {
	var f client.AttemptFilter
	var since string
	var interval time.Duration
	var count int
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Follow delivery attempts live, coloured by outcome",
		Long: `Tail prints each delivery attempt as the server records it, until interrupted:
green for a success, yellow for a failure that will be retried, red for a
failure after which no retry is scheduled. It starts with the attempts of
the last --since (default: from now on) and asks for newer ones every
--interval. Colours show on a terminal unless NO_COLOR is set (see --color).`,
		Example: "  herald tail --endpoint ep_… --since 10m",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if f.Since, err = parseTimeArg("since", since, time.Now()); err != nil {
				return err
			}
			if f.Since.IsZero() {
				f.Since = time.Now()
			}
			if interval <= 0 {
				return usageError{fmt.Errorf("invalid --interval %s: want a positive duration", interval)}
			}
			if count < 0 {
				return usageError{fmt.Errorf("invalid --count %d: want 0 (no end) or more", count)}
			}
			cl, err := e.client()
			if err != nil {
				return err
			}
			return e.tail(cmd, cl, f, interval, count)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.TenantID, "tenant", "", "only this tenant's (with the admin key)")
	fs.StringVar(&f.EndpointID, "endpoint", "", "only to this endpoint")
	fs.StringVar(&since, "since", "", "start with attempts since: RFC 3339, or a duration ago (10m)")
	fs.DurationVar(&interval, "interval", time.Second, "how often to ask for new attempts")
	fs.IntVar(&count, "count", 0, "stop after this many attempts (0: follow until interrupted)")
	return cmd
}

// tail polls the attempt log with its cursor, which always points past the
// newest attempt seen, and prints what is new. A full page is followed at
// once by the next; otherwise it waits for interval.
func (e *apiEnv) tail(cmd *cobra.Command, c *client.Client, f client.AttemptFilter, interval time.Duration, count int) error {
	ctx := ctxOf(cmd)
	color := e.colored(e.stdout)
	if e.output != "json" {
		fmt.Fprintf(e.stdout, tailFormat+"\n", "STARTED", "ATTEMPT", "DELIVERY", "ENDPOINT", "#", "STATUS", "MS", "OUTCOME")
	}
	f.Limit = 100
	printed := 0
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil // interrupted: the normal end of a tail
		case <-t.C:
		}
		pg, err := c.ListAttempts(ctx, f)
		if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		for _, a := range pg.Data {
			if err := e.tailLine(a, color); err != nil {
				return err
			}
			if printed++; count > 0 && printed >= count {
				return nil
			}
		}
		if pg.NextCursor != nil {
			f.Cursor = *pg.NextCursor
		}
		next := interval
		if len(pg.Data) == f.Limit {
			next = 0
		}
		t.Reset(next)
	}
}

// tailFormat pads the columns by hand: a tabwriter cannot align rows
// printed across polls.
const tailFormat = "%-20s  %-30s  %-30s  %-29s  %2s  %-6s  %7s  %s"

// tailLine prints one attempt: a JSON line with -o json, else a row.
func (e *apiEnv) tailLine(a client.Attempt, color bool) error {
	if e.output == "json" { // one JSON object a line
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(a)
	}
	outcome, c := "ok", colorGreen
	switch {
	case a.Error != nil && a.NextRetryAt != nil:
		outcome, c = *a.Error+", retry at "+fmtTime(*a.NextRetryAt), colorYellow
	case a.Error != nil:
		outcome, c = *a.Error+", no retry", colorRed
	}
	if a.ErrorMessage != "" {
		outcome += ": " + a.ErrorMessage
	}
	line := fmt.Sprintf(tailFormat,
		fmtTime(a.StartedAt), a.ID, a.DeliveryID, a.EndpointID, strconv.Itoa(a.Attempt), fmtIntPtr(a.StatusCode),
		strconv.FormatFloat(a.DurationMs, 'f', 1, 64), outcome)
	if color {
		line = c + line + colorReset
	}
	_, err := fmt.Fprintln(e.stdout, line)
	return err
}
