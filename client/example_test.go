package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/client"
)

func Example() {
	ctx := context.Background()
	url, adminKey, stop := herald(nil) // a Herald server; yours is at its own URL
	defer stop()
	c, err := client.New(url, client.WithKey(adminKey))
	if err != nil {
		panic(err)
	}
	if _, err := c.CreateTenant(ctx, client.TenantInput{ID: "acme", Name: "Acme Payouts"}); err != nil {
		panic(err)
	}
	ep, err := c.CreateEndpoint(ctx, client.EndpointInput{
		TenantID: "acme", URL: "https://merchant.example.com/hooks", Events: []string{"payout.paid"},
	})
	if err != nil {
		panic(err)
	}
	sent, err := c.SendEvent(ctx, client.EventInput{
		ID: "evt_981", TenantID: "acme", Type: "payout.paid", Data: json.RawMessage(`{"payoutId":"po_44"}`),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(ep.Status, sent.ID, sent.Duplicate)

	_, err = c.GetEvent(ctx, "evt_missing")
	var p *client.Problem
	if errors.As(err, &p) {
		fmt.Println(p.Status, p.Type == client.ProblemNotFound)
	}
	// Output:
	// active evt_981 false
	// 404 true
}
