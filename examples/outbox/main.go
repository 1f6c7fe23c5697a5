// Command outbox is a small orders service that announces shipped orders
// through Herald with the transactional outbox: marking an order shipped and
// recording the order.shipped event happen in one SQLite transaction, so
// the event exists exactly when the change does. `herald relay` then hands
// the event to Herald. See README.md for a session to run.
//
//	outbox [-db shop.db] [-tenant acme] create ORDER
//	outbox [-db shop.db] [-tenant acme] ship [-abort] ORDER
//	outbox receive -addr 127.0.0.1:9000 -secret whsec_...
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	_ "modernc.org/sqlite"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/webhook"
)

func main() {
	log.SetFlags(0)
	if err := run(context.Background(), os.Args[1:]); err != nil {
		log.Fatalf("outbox: %v", err)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("outbox", flag.ContinueOnError)
	dbPath := fs.String("db", "shop.db", "the shop's SQLite database")
	tenant := fs.String("tenant", "acme", "the Herald tenant that receives the shop's events")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("want a command: create, ship or receive")
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	if cmd == "receive" {
		return receive(rest)
	}
	shop, err := openShop(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer shop.db.Close()
	switch cmd {
	case "create":
		if len(rest) != 1 {
			return errors.New("usage: create ORDER")
		}
		_, err := shop.db.ExecContext(ctx, "INSERT INTO orders (id, status) VALUES (?, 'new')", rest[0])
		if err == nil {
			fmt.Printf("order %s created\n", rest[0])
		}
		return err
	case "ship":
		sf := flag.NewFlagSet("ship", flag.ContinueOnError)
		abort := sf.Bool("abort", false, "write the event, then roll the transaction back: nothing reaches Herald")
		if err := sf.Parse(rest); err != nil {
			return err
		}
		if sf.NArg() != 1 {
			return errors.New("usage: ship [-abort] ORDER")
		}
		return shop.ship(ctx, *tenant, sf.Arg(0), *abort)
	}
	return fmt.Errorf("unknown command %q: want create, ship or receive", cmd)
}

// shop is the orders database with its outbox.
type shop struct {
	db *sql.DB
	ob *outbox.Outbox
}

func openShop(ctx context.Context, path string) (*shop, error) {
	// busy_timeout: the relay writes to this file too (it deletes the rows
	// it relayed), so a writer may have to wait for the other's lock.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	ob, err := outbox.New(outbox.SQLite)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, status TEXT NOT NULL, shipped_at TEXT)"); err != nil {
		return nil, fmt.Errorf("create orders: %w", err)
	}
	if err := ob.Migrate(ctx, db); err != nil {
		return nil, err
	}
	return &shop{db: db, ob: ob}, nil
}

// ship marks an order shipped and records order.shipped in one
// transaction: both happen, or neither does.
func (s *shop) ship(ctx context.Context, tenant, orderID string, abort bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit
	now := time.Now().UTC()
	res, err := tx.ExecContext(ctx, "UPDATE orders SET status = 'shipped', shipped_at = ? WHERE id = ? AND status = 'new'", now.Format(time.RFC3339), orderID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("order %s does not exist or is already shipped", orderID)
	}
	id, err := s.ob.Write(ctx, tx, outbox.Event{
		TenantID: tenant,
		Type:     "order.shipped",
		Data:     map[string]string{"orderId": orderID, "shippedAt": now.Format(time.RFC3339)},
	})
	if err != nil {
		return err
	}
	if abort {
		fmt.Printf("order %s: wrote event %s, then rolled back: neither the order nor the event changed\n", orderID, id)
		return tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fmt.Printf("order %s shipped; event %s is in the outbox\n", orderID, id)
	return nil
}

// receive runs a webhook endpoint that verifies what Herald sends and
// prints each event once.
func receive(args []string) error {
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "address to listen on")
	secret := fs.String("secret", os.Getenv("HERALD_WEBHOOK_SECRET"), "the endpoint's signing secret (whsec_...)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	verifier, err := webhook.NewVerifier([]string{*secret})
	if err != nil {
		return err
	}
	rc := &webhook.Receiver{Verifier: verifier, Store: webhook.NewMemoryStore(10_000)}
	mux := http.NewServeMux()
	mux.Handle("POST /hooks", rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID, Type string
			Data     json.RawMessage
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		fmt.Printf("received %s %s %s\n", ev.ID, ev.Type, ev.Data)
	})))
	fmt.Printf("receiving webhooks at http://%s/hooks\n", *addr)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}
