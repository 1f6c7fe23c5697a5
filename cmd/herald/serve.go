package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald/internal/dispatch"
	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
	"github.com/heraldhq/herald/internal/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

func newServeCmd(getenv func(string) string, stderr io.Writer) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Herald server",
		Long: "Run the Herald server: the HTTP API and durable ingest.\n\n" +
			"Every flag may also be set by its environment variable: --allow-destinations\n" +
			"reads HERALD_ALLOW_DESTINATIONS, and so on. A flag given wins over its variable.",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.applyEnv(cmd.Flags(), getenv); err != nil {
				return err
			}
			cfg, err := f.parse()
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, stderr)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// serve runs the server until ctx ends, then shuts down within the grace
// period.
func serve(ctx context.Context, cfg serveConfig, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	store, err := openStore(ctx, cfg.Database, cfg.SecretKey, log)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := ensureAdminKey(ctx, store, cfg.AdminKey, stderr); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := dispatch.NewMetrics(reg, store)
	if err != nil {
		return err
	}
	userAgent := "Herald/" + buildVersion()
	client, err := sender.New(sender.Config{Allow: cfg.AllowDestinations, UserAgent: userAgent})
	if err != nil {
		return usageError{fmt.Errorf("invalid --allow-destinations: %w", err)}
	}
	defer client.CloseIdleConnections()
	dispatcher, err := dispatch.New(dispatch.Config{
		Store:         store,
		Sender:        client,
		Logger:        log,
		RetrySchedule: cfg.RetrySchedule,
		DisableAfter:  cfg.DisableAfter,
		Workers:       cfg.Workers,
		PollInterval:  cfg.PollInterval,
		ClaimInterval: cfg.ClaimInterval,
		LeaseMargin:   cfg.LeaseMargin,
		ShutdownGrace: cfg.ShutdownGrace,
		UserAgent:     userAgent,
		Metrics:       metrics,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on --addr %s: %w", cfg.Addr, err)
	}
	defer ln.Close()                         // Serve closes it too; this covers returning before Serve
	if cfg.PublicURL == "http://"+cfg.Addr { // the default: name the port actually bound (":0")
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	scfg := server.Config{
		Store:      store,
		Logger:     log,
		MaxPayload: cfg.MaxPayload,
		PublicURL:  cfg.PublicURL,
		Metrics:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}),
		HealthOnly: cfg.Role == roleWorker,
		TestSender: dispatcher, // POST …/test sends from the API process, whatever its role
		// Operational events are ingested through the store, whatever the
		// role; PostgreSQL's NOTIFY wakes the nodes that deliver.
		Announce: dispatcher.Announce,
	}
	scfg.TenantRateLimit = cfg.TenantRateLimit // per node: each node allows the rate
	if scfg.ConsoleKey, err = consoleKey(cfg); err != nil {
		return err
	}
	scfg.FrameAncestors = cfg.FrameAncestors
	if cfg.Role == roleAPI && !isPostgres(cfg.Database) {
		log.Warn("--role api on SQLite: this process delivers nothing, and no other process can open the file; deliveries wait until a process runs with --role all")
	}
	if cfg.Role != roleAPI {
		scfg.Ingested = dispatcher.Notify
		scfg.Ready = dispatcher.Healthy
		scfg.Circuit = dispatcher.Circuit // the breakers live in the dispatcher; --role api has none
	}
	handler, err := server.New(scfg)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "role", cfg.Role, "database", redactDatabase(cfg.Database), "publicURL", cfg.PublicURL)

	g, gctx := errgroup.WithContext(ctx)
	if cfg.Role != roleAPI {
		g.Go(func() error { return dispatcher.Run(gctx) })
		jobs, err := dispatch.NewJobRunner(dispatch.JobConfig{Store: store, Logger: log, Wake: dispatcher.Wake})
		if err != nil {
			return err
		}
		g.Go(func() error { return jobs.Run(gctx) })
		if cfg.Retention > 0 {
			retention, err := dispatch.NewRetention(dispatch.RetentionConfig{
				Store: store, Logger: log, Retention: cfg.Retention, Interval: cfg.RetentionInterval,
			})
			if err != nil {
				return err
			}
			g.Go(func() error { return retention.Run(gctx) })
		}
		// Nodes sharing a database wake each other's dispatchers after an
		// ingest; polling remains the fallback.
		if l, ok := store.(listener); ok {
			g.Go(func() error { return l.Listen(gctx, dispatcher.Wake) })
		}
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("shut down http: %w", err)
		}
		return nil
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}

// listener is a store that tells when another process has ingested
// deliveries (PostgreSQL's LISTEN/NOTIFY). Listen returns when ctx ends.
type listener interface {
	Listen(ctx context.Context, wake func()) error
}

// ensureAdminKey makes sure an admin key exists: the one given, which is
// stored (hashed) if it is new, or else, when none is stored yet, a fresh one
// that is printed once.
func ensureAdminKey(ctx context.Context, store hook.Store, given string, stderr io.Writer) error {
	now := time.Now()
	if given != "" {
		k, err := store.APIKeyByHash(ctx, hook.HashToken(given))
		if err == nil && !k.Admin() {
			return usageError{errors.New("invalid --admin-key: it is the API key of tenant " + k.TenantID)}
		}
		if !errors.Is(err, hook.ErrNotFound) {
			return err
		}
		err = store.CreateAPIKey(ctx, hook.KeyFromToken("", given, now))
		if errors.Is(err, hook.ErrConflict) { // another process stored it first
			return nil
		}
		return err
	}
	key, token := hook.NewAPIKey("", now)
	created, err := store.CreateFirstAdminKey(ctx, key)
	if err != nil {
		return fmt.Errorf("create admin key: %w", err)
	}
	if created {
		fmt.Fprintf(stderr, "\nHerald created an admin API key. It is shown only this once; keep it safe:\n\n    %s\n\n", token)
	}
	return nil
}

// redactDatabase hides the password of a database URL, for logs.
func redactDatabase(db string) string {
	if !isPostgres(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "(a PostgreSQL URL)"
	}
	return u.Redacted()
}
