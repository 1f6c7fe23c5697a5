package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

func newMigrateCmd(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations and exit",
		Long:  "Apply every pending migration to the database and exit. `herald serve` also does this at start.",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.applyEnv(cmd.Flags(), getenv); err != nil {
				return err
			}
			database, key, err := f.parseDatabase()
			if err != nil {
				return err
			}
			store, err := openStore(cmd.Context(), database, key, slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			defer store.Close()
			if err := store.Migrate(cmd.Context()); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			_, err = fmt.Fprintf(stdout, "database %s is up to date\n", database)
			return err
		},
	}
	f.registerDatabase(cmd.Flags())
	return cmd
}
