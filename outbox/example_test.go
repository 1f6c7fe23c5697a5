package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/heraldhq/herald/outbox"
)

// A producer records the event in the transaction that makes the change.
func ExampleOutbox_Write() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "outbox-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "shop.db")) // modernc.org/sqlite
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ob, err := outbox.New(outbox.SQLite)
	if err != nil {
		log.Fatal(err)
	}
	if err := ob.Migrate(ctx, db); err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE orders (id TEXT PRIMARY KEY, status TEXT)"); err != nil {
		log.Fatal(err)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO orders VALUES ('o_1', 'shipped')"); err != nil {
		log.Fatal(err)
	}
	id, err := ob.Write(ctx, tx, outbox.Event{
		TenantID: "acme",
		Type:     "order.shipped",
		Data:     map[string]string{"orderId": "o_1"},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	var data string
	if err := db.QueryRowContext(ctx, "SELECT data FROM herald_outbox WHERE id = ?", id).Scan(&data); err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(id, "evt_"), data)
	// Output: true {"orderId":"o_1"}
}

// A relay runs beside the producer until it is stopped.
func ExampleNewRelay() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	db, err := sql.Open("pgx", os.Getenv("SHOP_DATABASE_URL")) // github.com/jackc/pgx/v5/stdlib: the relay can LISTEN
	if err != nil {
		log.Fatal(err)
	}
	ob, err := outbox.New(outbox.Postgres)
	if err != nil {
		log.Fatal(err)
	}
	r, err := outbox.NewRelay(outbox.RelayConfig{
		Outbox: ob,
		DB:     db,
		Server: "https://herald.internal",
		Key:    os.Getenv("HERALD_KEY"),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
