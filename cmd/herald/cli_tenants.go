package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/client"
)

func (e *apiEnv) tenantsCmd() *cobra.Command {
	c := group("tenants", "Create, list, show and delete tenants (admin key)")
	var name string
	var meta []string
	create := &cobra.Command{
		Use: "create [ID]", Short: "Create a tenant (its id is generated unless given)",
		Example: "  herald tenants create acme --name 'Acme Payouts' --metadata plan=gold",
		Args:    args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			md, err := keyValues("metadata", meta, "=")
			if err != nil {
				return err
			}
			in := client.TenantInput{Name: name, Metadata: md}
			if len(a) == 1 {
				in.ID = a[0]
			}
			return e.call(cmd, func(c *client.Client) (any, error) { return c.CreateTenant(ctxOf(cmd), in) }, fieldRows)
		},
	}
	create.Flags().StringVar(&name, "name", "", "the tenant's name")
	create.Flags().StringArrayVar(&meta, "metadata", nil, "name=value, repeated")

	var lf listFlags
	list := &cobra.Command{
		Use: "list", Short: "List tenants", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := e.client()
			if err != nil {
				return err
			}
			pg, err := fetchList(ctxOf(cmd), &lf, cl.ListTenants)
			if err != nil {
				return err
			}
			return printPage(e, pg, []string{"ID", "NAME", "CREATED"}, func(t client.Tenant) []string {
				return []string{t.ID, dash(t.Name), fmtTime(t.CreatedAt)}
			})
		},
	}
	lf.register(list.Flags())

	get := &cobra.Command{
		Use: "get ID", Short: "Show a tenant", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return e.call(cmd, func(c *client.Client) (any, error) { return c.GetTenant(ctxOf(cmd), a[0]) }, fieldRows)
		},
	}
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete a tenant, its keys and endpoints", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return e.done(cmd, "deleted tenant "+a[0], func(c *client.Client) error { return c.DeleteTenant(ctxOf(cmd), a[0]) })
		},
	}
	var link client.PortalLinkInput
	portal := &cobra.Command{
		Use: "portal-link ID", Short: "A signed link to the tenant's portal in the web console", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return e.call(cmd, func(c *client.Client) (any, error) { return c.CreatePortalLink(ctxOf(cmd), a[0], link) }, fieldRows)
		},
	}
	portal.Flags().StringVar(&link.ExpiresIn, "expires-in", "", "how long the link works, such as 1h (default: the server's)")
	portal.Flags().BoolVar(&link.ReadOnly, "read-only", false, "the portal shows but does not change")
	c.AddCommand(create, list, get, del, portal)
	return c
}

func fieldRows(tw *tableWriter, v any) { tw.fields(v) }

func (e *apiEnv) keysCmd() *cobra.Command {
	c := group("keys", "Create, list and delete a tenant's API keys (admin key)")
	create := &cobra.Command{
		Use: "create TENANT", Short: "Create an API key for a tenant; the key is shown only now", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return e.call(cmd, func(c *client.Client) (any, error) { return c.CreateAPIKey(ctxOf(cmd), a[0]) }, fieldRows)
		},
	}
	var lf listFlags
	list := &cobra.Command{
		Use: "list TENANT", Short: "List a tenant's API keys", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := e.client()
			if err != nil {
				return err
			}
			pg, err := fetchList(ctxOf(cmd), &lf, func(ctx context.Context, lp client.ListParams) (client.Page[client.APIKey], error) {
				return cl.ListAPIKeys(ctx, a[0], lp)
			})
			if err != nil {
				return err
			}
			return printPage(e, pg, []string{"ID", "PREFIX", "CREATED", "LAST USED"}, func(k client.APIKey) []string {
				return []string{k.ID, k.Prefix, fmtTime(k.CreatedAt), fmtTimePtr(k.LastUsedAt)}
			})
		},
	}
	lf.register(list.Flags())
	del := &cobra.Command{
		Use: "delete TENANT KEY_ID", Short: "Delete an API key", Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return e.done(cmd, "deleted key "+a[1], func(c *client.Client) error { return c.DeleteAPIKey(ctxOf(cmd), a[0], a[1]) })
		},
	}
	c.AddCommand(create, list, del)
	return c
}

// call makes one API call and prints its answer: as JSON with -o json, else
// with rows.
func (e *apiEnv) call(cmd *cobra.Command, fn func(*client.Client) (any, error), rows func(*tableWriter, any)) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	v, err := fn(c)
	if err != nil {
		return err
	}
	return e.print(v, func(tw *tableWriter) { rows(tw, v) })
}

// done makes a call that answers nothing, and says what was done.
func (e *apiEnv) done(cmd *cobra.Command, what string, fn func(*client.Client) error) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	if err := fn(c); err != nil {
		return err
	}
	if e.output == "json" {
		return nil // the exit status says it
	}
	_, err = fmt.Fprintln(e.stdout, what)
	return err
}
