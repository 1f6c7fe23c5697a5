package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/postgres"
)

// BenchmarkStepCPU measures the CPU that PostgreSQL's backends spend per
// delivery in each step of its life: ingest, claim and completion, run
// through the store's API with the shape of herald bench (10 tenants of 10
// endpoints, each subscribed to a type of its own, 1 KiB payloads, batches
// of 50 events of one tenant, one delivery per event). The machine is
// shared and noisy, so it reports CPU time, not throughput: utime + stime
// of the test database's backends (read from /proc, so the server must run
// on this machine), taken before and after each step. b.N is the number of
// deliveries; they go through in rounds of 1,000, so the backlog stays
// small, as in a bench that keeps up.
//
//	HERALD_TEST_POSTGRES_URL=... go test -run '^$' -bench StepCPU -benchtime 5000x ./internal/postgres/
func BenchmarkStepCPU(b *testing.B) {
	url := pgtest.URL(b)
	db := openTest(b, url)
	ctx := context.Background()
	s := newStepSetup(b, db)
	cpu := newBackendCPU(b, url)
	warm(b, db)

	var ingest, claim, complete time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(1000, b.N-done)
		ingest += cpu.during(func() { s.ingest(b, n) })
		for left := n; left > 0; {
			var claims []hook.Claim
			claim += cpu.during(func() {
				var err error
				claims, err = db.ClaimDeliveries(ctx, hook.ClaimParams{Now: time.Now(), Limit: 50, LeaseMargin: time.Minute})
				if err != nil {
					b.Fatalf("ClaimDeliveries: %v", err)
				}
			})
			if len(claims) == 0 {
				b.Fatalf("ClaimDeliveries claimed nothing with %d deliveries left", left)
			}
			complete += cpu.during(func() { s.complete(b, claims) })
			left -= len(claims)
		}
		done += n
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(per(ingest), "pg-ingest-us/del")
	b.ReportMetric(per(claim), "pg-claim-us/del")
	b.ReportMetric(per(complete), "pg-complete-us/del")
	b.ReportMetric(per(ingest+claim+complete), "pg-us/del")
}

// stepSetup is the tenants and endpoints of BenchmarkStepCPU.
type stepSetup struct {
	db      *postgres.DB
	tenants []string
	types   []string
	payload []byte
	next    int // the tenant of the next batch
}

func newStepSetup(b *testing.B, db *postgres.DB) *stepSetup {
	b.Helper()
	s := &stepSetup{db: db, payload: []byte(`{"pad":"` + strings.Repeat("x", 1024-10) + `"}`)}
	for j := range 10 {
		s.types = append(s.types, fmt.Sprintf("bench.type%d", j))
	}
	for i := range 10 {
		tenant := fmt.Sprintf("tenant%d", i)
		s.tenants = append(s.tenants, tenant)
		if err := db.CreateTenant(b.Context(), hook.Tenant{ID: tenant, Name: tenant, CreatedAt: time.Now()}); err != nil {
			b.Fatalf("CreateTenant: %v", err)
		}
		for _, typ := range s.types {
			now := time.Now()
			ep := hook.Endpoint{
				ID: hook.NewID(hook.PrefixEndpoint), TenantID: tenant, URL: "https://example.com/hooks",
				Events: []string{typ}, Secrets: []hook.Secret{{Key: "whsec_" + hook.NewID("s")}},
				SignatureScheme: hook.SchemeStandard, MaxInFlight: hook.DefaultMaxInFlight, Timeout: hook.DefaultTimeout,
				Status: hook.EndpointActive, CreatedAt: now, UpdatedAt: now,
			}
			if err := db.CreateEndpoint(b.Context(), ep); err != nil {
				b.Fatalf("CreateEndpoint: %v", err)
			}
		}
	}
	return s
}

// ingest ingests n events in batches of 50, each of one tenant, four
// batches at a time.
func (s *stepSetup) ingest(b *testing.B, n int) {
	var batches [][]hook.Event
	for k := 0; k < n; k += 50 {
		tenant := s.tenants[s.next%len(s.tenants)]
		s.next++
		var evs []hook.Event
		for i := k; i < min(k+50, n); i++ {
			evs = append(evs, hook.Event{ID: hook.NewID(hook.PrefixEvent), TenantID: tenant,
				Type: s.types[i%len(s.types)], Data: s.payload})
		}
		batches = append(batches, evs)
	}
	run(b, 4, len(batches), func(i int) error {
		items, err := s.db.IngestBatch(context.Background(), batches[i])
		for _, it := range items {
			if err == nil && (it.Err != nil || len(it.Result.Deliveries) != 1) {
				err = fmt.Errorf("item %+v: want one delivery", it)
			}
		}
		return err
	})
}

// complete records a successful attempt of each claim, 16 at a time, as
// the dispatcher's workers do.
func (s *stepSetup) complete(b *testing.B, claims []hook.Claim) {
	run(b, 16, len(claims), func(i int) error {
		c := claims[i]
		start := time.Now()
		_, err := s.db.CompleteAttempt(context.Background(), c.Token, hook.Outcome{
			Attempt: hook.Attempt{
				ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
				TenantID: c.Delivery.TenantID, Number: c.Delivery.AttemptCount + 1, StartedAt: start,
				Duration:       time.Millisecond,
				RequestHeader:  http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {c.Event.ID}},
				StatusCode:     200,
				ResponseHeader: http.Header{"Content-Length": {"2"}},
				ResponseBody:   []byte("ok"),
			},
			Status: hook.DeliverySucceeded,
		})
		return err
	})
}

// run calls f(0) to f(n-1), on workers goroutines, and fails b on the first
// error.
func run(b *testing.B, workers, n int, f func(i int) error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
}

// warm opens every connection of db's pool, so that no step pays for a
// new backend's start.
func warm(b *testing.B, db *postgres.DB) {
	b.Helper()
	pool := db.Pool()
	var conns []interface{ Release() }
	for range pool.Config().MaxConns {
		c, err := pool.Acquire(b.Context())
		if err != nil {
			b.Fatalf("Acquire: %v", err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
}

// backendCPU reads the CPU time of the backends of one database, but for
// that of its own connection, which asks for their pids.
type backendCPU struct {
	b    *testing.B
	conn *pgx.Conn
	tick float64 // clock ticks per second, in which /proc gives CPU time
}

func newBackendCPU(b *testing.B, url string) *backendCPU {
	b.Helper()
	conn, err := pgx.Connect(b.Context(), url)
	if err != nil {
		b.Fatalf("connect: %v", err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	// USER_HZ is 100 on every Linux architecture Go runs on.
	return &backendCPU{b: b, conn: conn, tick: 100}
}

// during returns the CPU time the backends spent while f ran.
func (c *backendCPU) during(f func()) time.Duration {
	before := c.read()
	f()
	after := c.read()
	var d float64
	for pid, t := range after {
		d += t - before[pid] // a backend started during f counts from 0
	}
	return time.Duration(d / c.tick * float64(time.Second))
}

// read returns the utime + stime, in clock ticks, of each backend of the
// database.
func (c *backendCPU) read() map[int]float64 {
	c.b.Helper()
	rows, err := c.conn.Query(context.Background(),
		"SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
	if err != nil {
		c.b.Fatalf("backend pids: %v", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		c.b.Fatalf("backend pids: %v", err)
	}
	ticks := make(map[int]float64, len(pids))
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			c.b.Fatalf("backend CPU (is the server on this machine?): %v", err)
		}
		// The command, in parentheses, may hold spaces; the fields after
		// it are numbered from 3 (state): utime is 14 and stime 15.
		f := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
		utime, err1 := strconv.ParseFloat(string(f[11]), 64)
		stime, err2 := strconv.ParseFloat(string(f[12]), 64)
		if err1 != nil || err2 != nil {
			c.b.Fatalf("backend CPU: cannot parse /proc/%d/stat", pid)
		}
		ticks[int(pid)] = utime + stime
	}
	return ticks
}
