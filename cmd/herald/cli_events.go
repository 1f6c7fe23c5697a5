package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/client"
)

func (e *apiEnv) eventsCmd() *cobra.Command {
	c := group("events", "Send, list, show and replay events", "event")
	c.AddCommand(e.eventSendCmd(), e.eventListCmd())
	c.AddCommand(&cobra.Command{
		Use: "get ID", Short: "Show an event", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return e.call(cmd, func(c *client.Client) (any, error) { return c.GetEvent(ctxOf(cmd), a[0]) }, fieldRows)
		},
	})
	var lf listFlags
	deliveries := &cobra.Command{
		Use: "deliveries ID", Short: "List an event's deliveries", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := e.client()
			if err != nil {
				return err
			}
			pg, err := fetchList(ctxOf(cmd), &lf, func(ctx context.Context, lp client.ListParams) (client.Page[client.Delivery], error) {
				return cl.ListEventDeliveries(ctx, a[0], lp)
			})
			if err != nil {
				return err
			}
			return printPage(e, pg, deliveryHeader, deliveryRow)
		},
	}
	lf.register(deliveries.Flags())
	var endpoints []string
	replay := &cobra.Command{
		Use: "replay ID", Short: "Send an event again to each endpoint (default: every active one that matches it)", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := e.client()
			if err != nil {
				return err
			}
			ds, err := cl.ReplayEvent(ctxOf(cmd), a[0], endpoints...)
			if err != nil {
				return err
			}
			return printPage(e, client.Page[client.Delivery]{Data: ds}, deliveryHeader, deliveryRow)
		},
	}
	replay.Flags().StringSliceVar(&endpoints, "endpoint", nil, "only these endpoint ids, comma-separated")
	c.AddCommand(deliveries, replay)
	return c
}

func (e *apiEnv) eventSendCmd() *cobra.Command {
	var file, typ, data, id, tenant string
	cmd := &cobra.Command{
		Use:   "send (--file FILE | --type TYPE --data JSON)",
		Short: "Send an event, from a file (- for standard input) or from flags",
		Long: `Send hands Herald an event. --file reads the whole request, such as
{"type": "payout.paid", "data": {…}}; or give --type and --data. Flags
given with --file override its fields. Give --id to send idempotently: a
repeat answers with the first event.

A file of {"events": [{…}, …]} is sent in batches of 500, with a result
printed for each event; if any is refused the command exits 1.`,
		Example: `  herald events send --type payout.paid --data '{"payoutId": "po_44"}'
  echo '{"type": "payout.paid", "data": {}}' | herald events send --file -`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var in client.EventInput
			if file != "" {
				b, err := readBody(cmd.InOrStdin(), file)
				if err != nil {
					return usageError{fmt.Errorf("events send: %w", err)}
				}
				var batch struct {
					Events []client.EventInput `json:"events"`
				}
				if decodeStrict(b, &batch) == nil && batch.Events != nil {
					return e.sendBatch(cmd, batch.Events, tenant)
				}
				if err := decodeStrict(b, &in); err != nil {
					return usageError{fmt.Errorf("events send: %s is not an event, nor {\"events\": [...]}: %v", file, err)}
				}
			}
			if data != "" {
				if !json.Valid([]byte(data)) {
					return usageError{fmt.Errorf("events send: --data is not valid JSON")}
				}
				in.Data = json.RawMessage(data)
			}
			if typ != "" {
				in.Type = typ
			}
			if id != "" {
				in.ID = id
			}
			if tenant != "" {
				in.TenantID = tenant
			}
			if in.Type == "" || len(in.Data) == 0 {
				return usageError{fmt.Errorf("events send: give --file, or --type and --data")}
			}
			return e.call(cmd, func(c *client.Client) (any, error) {
				sent, err := c.SendEvent(ctxOf(cmd), in)
				if err == nil && sent.Duplicate && e.output != "json" {
					fmt.Fprintf(e.stderr, "event %s was sent before; nothing new was created\n", sent.ID)
				}
				return sent.Event, err
			}, fieldRows)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&file, "file", "f", "", "a JSON file with the event (- for standard input)")
	fs.StringVar(&typ, "type", "", "the event type")
	fs.StringVar(&data, "data", "", "the event's data, a JSON object")
	fs.StringVar(&id, "id", "", "your own event id, the idempotency key")
	fs.StringVar(&tenant, "tenant", "", "the tenant (with the admin key)")
	return cmd
}

// decodeStrict decodes JSON, refusing fields v lacks, as the server does.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// sendBatch sends a file's events in batches of client.MaxBatch and prints
// a result for each; some refused make the command fail after printing.
func (e *apiEnv) sendBatch(cmd *cobra.Command, events []client.EventInput, tenant string) error {
	if len(events) == 0 {
		return usageError{fmt.Errorf("events send: the file's events list is empty")}
	}
	for i := range events {
		if events[i].TenantID == "" {
			events[i].TenantID = tenant
		}
	}
	cl, err := e.client()
	if err != nil {
		return err
	}
	var results []client.BatchResult
	for start := 0; start < len(events); start += client.MaxBatch {
		res, err := cl.SendEvents(ctxOf(cmd), events[start:min(start+client.MaxBatch, len(events))])
		if err != nil {
			return err
		}
		results = append(results, res...)
	}
	refused := 0
	err = e.print(results, func(tw *tableWriter) {
		tw.row("#", "STATUS", "EVENT", "TYPE", "PROBLEM")
		for i, r := range results {
			id, typ, prob := "-", events[i].Type, "-"
			if r.Event != nil {
				id = r.Event.ID
			}
			if r.Error != nil {
				prob = r.Error.Error()
			}
			tw.row(strconv.Itoa(i+1), strconv.Itoa(r.Status), id, dash(typ), prob)
		}
	})
	for _, r := range results {
		if r.Status >= 300 {
			refused++
		}
	}
	if err == nil && refused > 0 {
		err = fmt.Errorf("%d of %d events were refused", refused, len(results))
	}
	return err
}

func (e *apiEnv) eventListCmd() *cobra.Command {
	var lf listFlags
	var tenant, typ, since, until string
	cmd := &cobra.Command{
		Use: "list", Short: "List events, newest first", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			s, err := parseTimeArg("since", since, now)
			if err != nil {
				return err
			}
			u, err := parseTimeArg("until", until, now)
			if err != nil {
				return err
			}
			cl, err := e.client()
			if err != nil {
				return err
			}
			pg, err := fetchList(ctxOf(cmd), &lf, func(ctx context.Context, lp client.ListParams) (client.Page[client.Event], error) {
				return cl.ListEvents(ctx, client.EventFilter{ListParams: lp, TenantID: tenant, Type: typ, Since: s, Until: u})
			})
			if err != nil {
				return err
			}
			return printPage(e, pg, []string{"ID", "TYPE", "TENANT", "CREATED"}, func(ev client.Event) []string {
				return []string{ev.ID, ev.Type, ev.TenantID, fmtTime(ev.CreatedAt)}
			})
		},
	}
	lf.register(cmd.Flags())
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant's (with the admin key)")
	cmd.Flags().StringVar(&typ, "type", "", "only events of this type")
	cmd.Flags().StringVar(&since, "since", "", "created at or after: RFC 3339, or a duration ago (1h)")
	cmd.Flags().StringVar(&until, "until", "", "created before: RFC 3339, or a duration ago")
	return cmd
}

var deliveryHeader = []string{"ID", "EVENT", "ENDPOINT", "TYPE", "STATUS", "ATTEMPTS", "NEXT ATTEMPT"}

func deliveryRow(d client.Delivery) []string {
	return []string{d.ID, d.EventID, d.EndpointID, d.EventType, d.Status, strconv.Itoa(d.AttemptCount), fmtTimePtr(d.NextAttemptAt)}
}

var attemptHeader = []string{"ID", "DELIVERY", "#", "STARTED", "STATUS", "ERROR", "MS", "NEXT RETRY"}

func attemptRow(a client.Attempt) []string {
	return []string{a.ID, a.DeliveryID, strconv.Itoa(a.Attempt), fmtTime(a.StartedAt), fmtIntPtr(a.StatusCode),
		fmtStrPtr(a.Error), strconv.FormatFloat(a.DurationMs, 'f', 1, 64), fmtTimePtr(a.NextRetryAt)}
}

func (e *apiEnv) deliveriesCmd() *cobra.Command {
	c := group("deliveries", "The delivery log: list, show and retry deliveries", "delivery")
	var lf listFlags
	var f client.DeliveryFilter
	var since, until string
	list := &cobra.Command{
		Use: "list", Short: "List deliveries, newest first", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			var err error
			if f.Since, err = parseTimeArg("since", since, now); err != nil {
				return err
			}
			if f.Until, err = parseTimeArg("until", until, now); err != nil {
				return err
			}
			cl, err := e.client()
			if err != nil {
				return err
			}
			pg, err := fetchList(ctxOf(cmd), &lf, func(ctx context.Context, lp client.ListParams) (client.Page[client.Delivery], error) {
				f.ListParams = lp
				return cl.ListDeliveries(ctx, f)
			})
			if err != nil {
				return err
			}
			return printPage(e, pg, deliveryHeader, deliveryRow)
		},
	}
	lf.register(list.Flags())
	fs := list.Flags()
	fs.StringVar(&f.TenantID, "tenant", "", "only this tenant's (with the admin key)")
	fs.StringVar(&f.EndpointID, "endpoint", "", "only to this endpoint")
	fs.StringVar(&f.EventID, "event", "", "only of this event")
	fs.StringVar(&f.EventType, "type", "", "only of this event type")
	fs.StringVar(&f.Status, "status", "", "only in this status: pending, succeeded, failed or canceled")
	fs.StringVar(&since, "since", "", "created at or after: RFC 3339, or a duration ago (1h)")
	fs.StringVar(&until, "until", "", "created before: RFC 3339, or a duration ago")
	_ = list.RegisterFlagCompletionFunc("status", cobra.FixedCompletions([]string{"pending", "succeeded", "failed", "canceled"}, cobra.ShellCompDirectiveNoFileComp))

	get := &cobra.Command{
		Use: "get ID", Short: "Show a delivery and its attempts", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := e.client()
			if err != nil {
				return err
			}
			d, err := cl.GetDelivery(ctxOf(cmd), a[0])
			if err != nil {
				return err
			}
			return e.print(d, func(tw *tableWriter) {
				tw.fields(d.Delivery)
				tw.row("")
				tw.row(attemptHeader...)
				for _, at := range d.Attempts {
					tw.row(attemptRow(at)...)
				}
			})
		},
	}
	retry := &cobra.Command{
		Use: "retry ID", Short: "Queue one more attempt of a delivery now", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return e.call(cmd, func(c *client.Client) (any, error) { return c.RetryDelivery(ctxOf(cmd), a[0]) }, fieldRows)
		},
	}
	var alf listFlags
	attempts := &cobra.Command{
		Use: "attempts ID", Short: "List a delivery's attempts, oldest first", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := e.client()
			if err != nil {
				return err
			}
			pg, err := fetchList(ctxOf(cmd), &alf, func(ctx context.Context, lp client.ListParams) (client.Page[client.Attempt], error) {
				return cl.ListDeliveryAttempts(ctx, a[0], lp)
			})
			if err != nil {
				return err
			}
			return printPage(e, pg, attemptHeader, attemptRow)
		},
	}
	alf.register(attempts.Flags())
	c.AddCommand(list, get, retry, attempts)
	return c
}
