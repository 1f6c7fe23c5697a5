package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// it comes from the module's build information.
var version = ""

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed, or what it checked did not hold
	exitUsage = 2 // the command line was wrong
)

// usageError marks an error in the command line itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run is the whole program: it parses args, runs the command and returns
// the exit code. Tests call it directly, with their own environment and
// output streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "herald",
		Short:         "Herald delivers webhooks: signed, retried, recorded",
		Long:          "Herald is a webhook delivery server. It takes a platform's events and pushes each one,\nsigned, to every endpoint registered for its type, retrying failures with backoff.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newServeCmd(getenv, stderr),
		newMigrateCmd(getenv, stdout),
		newVersionCmd(stdout),
		newVerifyCmd(stdout),
		newRelayCmd(getenv, stderr),
		newBenchCmd(getenv, stdout, stderr),
	)
	root.AddCommand(apiCommands(getenv, stdout, stderr)...) // cli_root.go: clients of a server's API
	for _, c := range root.Commands() {
		c.SilenceUsage = true
	}
	err := root.ExecuteContext(ctx)
	if _, _, ferr := root.Find(args); ferr != nil {
		err = usageError{ferr} // an unknown command
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "herald: %v\n", err)
	return exitCode(err) // cli_root.go
}

// args wraps a cobra argument check so that its failures are usage errors.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Herald's version",
		Args:  args(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(stdout, "herald %s (%s)\n", buildVersion(), runtime.Version())
			return err
		},
	}
}

// buildVersion returns the version stamped at build time, or the module
// version and VCS revision Go recorded, or "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "dev-" + s.Value[:12]
		}
	}
	return "dev"
}
