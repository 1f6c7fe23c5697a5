package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/client"
)

// exitUnreachable is the exit code of an API command whose server did not
// answer (exitError is the one of a refusal, with the server's problem).
const exitUnreachable = 3

// apiEnv is what the API client commands share: where their output goes,
// the environment, and the flags that say which server to call and how to
// print its answers.
type apiEnv struct {
	getenv         func(string) string
	stdout, stderr io.Writer

	server, key, output, color string
}

// apiCommands returns the API client commands of `herald`.
func apiCommands(getenv func(string) string, stdout, stderr io.Writer) []*cobra.Command {
	e := &apiEnv{getenv: getenv, stdout: stdout, stderr: stderr}
	return e.commands()
}

func (e *apiEnv) commands() []*cobra.Command {
	cmds := []*cobra.Command{
		e.tenantsCmd(), e.keysCmd(), e.endpointsCmd(), e.eventsCmd(), e.deliveriesCmd(), e.jobsCmd(), e.tailCmd(),
	}
	for _, c := range cmds {
		e.register(c)
	}
	return cmds
}

// The environment variables of the connection flags. They differ from the
// HERALD_<FLAG> rule of serve's flags: --server is HERALD_URL, the name
// people expect for where a server is, and --key is HERALD_KEY.
var apiFlagEnv = map[string]string{"server": "HERALD_URL", "key": "HERALD_KEY", "output": "HERALD_OUTPUT", "color": "HERALD_COLOR"}

// register adds the connection and output flags to a command group and
// reads their environment variables before any of its commands runs.
func (e *apiEnv) register(c *cobra.Command) {
	fs := c.PersistentFlags()
	fs.StringVar(&e.server, "server", "http://127.0.0.1:8080", "the Herald server's URL (env HERALD_URL)")
	fs.StringVar(&e.key, "key", "", "the API key: an admin key or a tenant key (env HERALD_KEY)")
	fs.StringVarP(&e.output, "output", "o", "table", "how to print answers: table or json (env HERALD_OUTPUT)")
	fs.StringVar(&e.color, "color", "auto", "colour output: auto (on a terminal, unless NO_COLOR is set), always or never (env HERALD_COLOR)")
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("color", cobra.FixedCompletions([]string{"auto", "always", "never"}, cobra.ShellCompDirectiveNoFileComp))
	c.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return e.applyEnv(cmd.Flags()) }
}

// applyEnv gives each connection flag not set on the command line its
// environment variable's value, then checks the values.
func (e *apiEnv) applyEnv(fs *pflag.FlagSet) error {
	for flag, env := range apiFlagEnv {
		if f := fs.Lookup(flag); f != nil && !f.Changed {
			if v := e.getenv(env); v != "" {
				_ = fs.Set(flag, v) // string flags take any value; checked below
			}
		}
	}
	switch e.output {
	case "table", "json":
	default:
		return usageError{fmt.Errorf("invalid --output %q: want table or json", e.output)}
	}
	switch e.color {
	case "auto", "always", "never":
	default:
		return usageError{fmt.Errorf("invalid --color %q: want auto, always or never", e.color)}
	}
	return nil
}

// group returns a command that only holds subcommands: alone it prints
// its help; with an argument that names none of them it is a usage error.
func group(use, short string, aliases ...string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Aliases: aliases, Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", a[0], cmd.CommandPath())}
			}
			return cmd.Help()
		},
	}
}

// client returns a client of the server the flags name.
func (e *apiEnv) client() (*client.Client, error) {
	if e.key == "" {
		return nil, usageError{errors.New("no API key: give --key or set HERALD_KEY")}
	}
	opts := []client.Option{client.WithKey(e.key), client.WithUserAgent("herald-cli/" + buildVersion())}
	c, err := client.New(e.server, opts...)
	if err != nil {
		return nil, usageError{fmt.Errorf("invalid --server (or HERALD_URL) %q: want a URL such as http://127.0.0.1:8080", e.server)}
	}
	return c, nil
}

// colored reports whether output to w may be coloured.
func (e *apiEnv) colored(w io.Writer) bool {
	switch e.color {
	case "always":
		return true
	case "never":
		return false
	}
	if e.getenv("NO_COLOR") != "" {
		return false
	}
	return isTerminal(w) // bench.go
}

// print writes v as JSON with -o json, else with table.
func (e *apiEnv) print(v any, table func(*tableWriter)) error {
	if e.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	tw := newTable(e.stdout)
	table(tw)
	return tw.flush()
}

// printPage prints a page of a list, and on standard error how to get
// the next one.
func printPage[T any](e *apiEnv, pg client.Page[T], header []string, row func(T) []string) error {
	err := e.print(pg, func(tw *tableWriter) {
		tw.row(header...)
		for _, it := range pg.Data {
			tw.row(row(it)...)
		}
	})
	if err == nil && e.output != "json" && pg.NextCursor != nil && len(pg.Data) > 0 {
		fmt.Fprintf(e.stderr, "more: --cursor %s\n", *pg.NextCursor)
	}
	return err
}

// listFlags are the paging flags of a list command.
type listFlags struct {
	limit  int
	cursor string
	all    bool
}

func (l *listFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&l.limit, "limit", 0, "items per page, 1 to 250 (default 50)")
	fs.StringVar(&l.cursor, "cursor", "", "the page after the one that printed this cursor")
	fs.BoolVar(&l.all, "all", false, "every page, from --cursor (or the first) to the last")
}

// fetchList gets the page the flags ask for, or with --all every page
// from there on, as one page.
func fetchList[T any](ctx context.Context, l *listFlags, fetch func(context.Context, client.ListParams) (client.Page[T], error)) (client.Page[T], error) {
	if !l.all {
		return fetch(ctx, l.params())
	}
	out := client.Page[T]{Data: []T{}}
	for it, err := range client.All(ctx, func(ctx context.Context, cursor string) (client.Page[T], error) {
		lp := l.params()
		if cursor != "" {
			lp.Cursor = cursor
		}
		return fetch(ctx, lp)
	}) {
		if err != nil {
			return client.Page[T]{}, err
		}
		out.Data = append(out.Data, it)
	}
	return out, nil
}

func (l *listFlags) params() client.ListParams {
	return client.ListParams{Limit: l.limit, Cursor: l.cursor}
}

// Formatting of values in tables.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

func fmtIntPtr(n *int) string {
	if n == nil {
		return "-"
	}
	return strconv.Itoa(*n)
}

func fmtStrPtr(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func dash(s string) string { return cmp.Or(s, "-") }

// parseTimeArg reads a time flag: RFC 3339, or a duration back from now
// ("1h" is an hour ago).
func parseTimeArg(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageError{fmt.Errorf("invalid --%s %q: want an RFC 3339 time (2026-05-08T10:15:00Z) or a duration ago (90m)", flag, s)}
}

// keyValues parses k=v flags into a map.
func keyValues(flag string, kvs []string, sep string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, sep)
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageError{fmt.Errorf("invalid --%s %q: want name%svalue", flag, kv, sep)}
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, nil
}

// ctxOf is the command's context.
func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// exitCode maps the error of a command to the process's exit code.
func exitCode(err error) int {
	var ue usageError
	var unreachable *client.UnreachableError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &unreachable):
		return exitUnreachable
	}
	return exitError
}
