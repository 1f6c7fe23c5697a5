package outbox_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/heraldhq/herald/outbox"
)

// BenchmarkRelay measures how many rows per second a relay moves from an
// outbox into a real Herald (SQLite store, in this process, over HTTP on
// 127.0.0.1), in batches of 500. Writing the rows is not timed.
//
//	go test -run '^$' -bench BenchmarkRelay -benchtime 20000x ./outbox/
func BenchmarkRelay(b *testing.B) {
	for _, d := range []struct {
		name   string
		open   func(testing.TB, ...outbox.Option) source
		single bool // Herald without batch ingest: one POST per event, 8 at once
	}{{"sqlite", sqliteSource, false}, {"postgres", postgresSource, false}, {"sqlite-one-by-one", sqliteSource, true}} {
		b.Run(d.name, func(b *testing.B) {
			src := d.open(b)
			h := newHerald(b)
			if d.single {
				h.setGate(func(w http.ResponseWriter, r *http.Request) bool {
					if r.URL.Path == "/v1/events/batch" {
						w.WriteHeader(http.StatusNotFound)
						return true
					}
					return false
				})
			}
			r := src.relay(b, h)
			b.StopTimer()
			for i := 0; i < b.N; i += 500 {
				evs := make([]outbox.Event, min(500, b.N-i))
				for j := range evs {
					evs[j] = event("order.shipped", fmt.Sprintf(`{"orderId":"o_%d","amountPaise":250000,"currency":"INR"}`, i+j))
				}
				src.write(b, true, evs...)
			}
			b.StartTimer()
			s, err := r.Drain(context.Background())
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if s.Relayed != int64(b.N) {
				b.Fatalf("relayed %d rows, want %d", s.Relayed, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
