package sqlite

// These benchmarks measure the floor of what one delivery costs the SQLite
// store: how much CPU the one writer goroutine spends per delivery on the
// store's real write path, and how much plain SQL spends on the same rows,
// with Herald's schema, without each of its secondary indexes, and with a
// schema of primary keys alone. One goroutine uses at most one core, so
// 1e6 ÷ (writer µs per delivery) bounds the deliveries a second of one
// store, whatever the rest of the server does.
//
// Run them one invocation at a time, several times, so that variants
// alternate (the machine is shared; CPU per delivery moves by ±20%):
//
//	go test -c -o /tmp/sqlite.test ./internal/sqlite/
//	/tmp/sqlite.test -test.run '^$' -test.bench WriterPerDelivery -test.benchtime 15000x
//	/tmp/sqlite.test -test.run '^$' -test.bench 'BareRows$' -test.benchtime 10000x
//	/tmp/sqlite.test -test.run '^$' -test.bench BareRowsIndex -test.benchtime 8000x
//
// The writer's share from a CPU profile, and its split by statement (the
// lines of event.go, delivery.go, dispatch.go and writer.go that run each
// statement; a statement's cost is on the line that runs it, plus the
// Scan of a RETURNING row):
//
//	/tmp/sqlite.test -test.run '^$' -test.bench WriterPerDelivery/free -test.benchtime 15000x -test.cpuprofile w.prof
//	go tool pprof -top -cum /tmp/sqlite.test w.prof | grep '(\*writer).run$'
//	go tool pprof -list 'sqlite.\(\*writer\).runTx$|sqlite.ingest$|CompleteAttempt.func1$' /tmp/sqlite.test w.prof
//
// and divide by the deliveries of the profile: b.N, plus the first run's
// one batch (50).

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"

	"golang.org/x/sys/unix"
	msqlite "modernc.org/sqlite"
)

// The shape of herald bench's default load: 10 tenants of 10 endpoints,
// each endpoint subscribed to one type of its own, batches of 50 events of
// 1 KiB data from 16 producers; the dispatcher's 512 workers complete the
// deliveries.
const (
	floorTenants   = 10
	floorEndpoints = 10
	floorBatch     = 50
	floorPayload   = 1024
	floorProducers = 16
	floorWorkers   = 512
	// floorBacklog bounds the batches ingested but not yet delivered, so
	// that ingest and completions share the writer's batches as they do
	// in a steady run rather than ingest running far ahead.
	floorBacklog = 64
)

// BenchmarkWriterPerDelivery runs b.N deliveries (rounded up to whole
// batches) through the store's real write path, without HTTP or the
// dispatcher: IngestBatch from several producers, ClaimDeliveries from one
// claimer, and CompleteAttempt, as a success, from many workers at once,
// so that the writer batches as it does under load.
//
// "free" is the store as it runs in the server; the writer goroutine's CPU
// is read from a CPU profile ((*writer).run, cumulative). "locked" runs the
// same writer loop locked to an OS thread of its own and reports that
// thread's CPU time per delivery (writer-µs/delivery), which is the
// writer's whole cost (its statements, its share of garbage collection
// assists, parking and waking) without a profile. Side by side they also
// show what locking the thread changes.
func BenchmarkWriterPerDelivery(b *testing.B) {
	for _, locked := range []bool{false, true} {
		name := "free"
		if locked {
			name = "locked"
		}
		b.Run(name, func(b *testing.B) { benchWriter(b, locked) })
	}
}

func benchWriter(b *testing.B, locked bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := floorOpen(b, filepath.Join(b.TempDir(), "herald.db"))
	var thread *writerThread
	if locked {
		thread = lockWriter(b, db)
	}
	tenants := floorSetup(b, db)
	batches := (b.N + floorBatch - 1) / floorBatch
	total := int64(batches * floorBatch)
	pad := strings.Repeat("x", floorPayload)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)

	// fail ends the run at the first error: a producer or worker that
	// stopped would leave the others waiting for deliveries that never come.
	var failOnce sync.Once
	fail := func(err error) {
		failOnce.Do(func() {
			b.Error(err)
			cancel()
		})
	}
	poke := make(chan struct{}, 1)
	wake := func() {
		select {
		case poke <- struct{}{}:
		default:
		}
	}
	var (
		nextBatch atomic.Int64
		inFlight  atomic.Int64
		completed atomic.Int64
		tickets   = make(chan struct{}, floorBacklog)
		work      = make(chan hook.Claim, floorWorkers)
		done      = make(chan struct{})
		wg        sync.WaitGroup
	)

	commits := countCommits(b, db)
	b.ResetTimer()
	commits0 := commits.Load()
	cpu0, writer0 := processCPU(b), thread.stat(b)
	stopSampling := thread.sample()
	start := time.Now()
	for range floorProducers {
		wg.Go(func() {
			for {
				k := nextBatch.Add(1) - 1
				if k >= int64(batches) {
					return
				}
				select {
				case tickets <- struct{}{}:
				case <-ctx.Done():
					return
				}
				evs := floorEvents(k, run, tenants, pad)
				items, err := db.IngestBatch(ctx, evs)
				if err != nil {
					fail(err)
					return
				}
				for _, it := range items {
					if it.Err != nil || len(it.Result.Deliveries) != 1 {
						fail(fmt.Errorf("ingest %s: %d deliveries, %v", it.Result.Event.ID, len(it.Result.Deliveries), it.Err))
						return
					}
				}
				wake()
			}
		})
	}
	for range floorWorkers {
		wg.Go(func() {
			for c := range work {
				if _, err := db.CompleteAttempt(ctx, c.Token, floorOutcome(c)); err != nil {
					fail(err)
				}
				inFlight.Add(-1)
				wake()
				n := completed.Add(1)
				if n%floorBatch == 0 {
					<-tickets // the producers put one in for every batch
				}
				if n == total {
					close(done)
				}
			}
		})
	}
	idle := time.NewTimer(time.Hour)
claim:
	for {
		select {
		case <-done:
			break claim
		case <-ctx.Done():
			break claim
		default:
		}
		free := floorWorkers - inFlight.Load()
		var claims []hook.Claim
		if free > 0 {
			var err error
			claims, err = db.ClaimDeliveries(ctx, hook.ClaimParams{Now: time.Now(), Limit: int(free), LeaseMargin: 10 * time.Second})
			if err != nil {
				fail(err)
				break
			}
		}
		if len(claims) == 0 {
			// As the dispatcher: a finished attempt or an ingest pokes
			// the claimer; a short timer stands in for its poll.
			idle.Reset(time.Millisecond)
			select {
			case <-poke:
			case <-idle.C:
			case <-done:
			case <-ctx.Done():
			}
			continue
		}
		inFlight.Add(int64(len(claims)))
		for _, c := range claims {
			work <- c
		}
	}
	elapsed := time.Since(start)
	cpu, writer := processCPU(b)-cpu0, thread.stat(b).sub(writer0)
	states := stopSampling()
	b.StopTimer()
	close(work)
	wg.Wait()

	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(total) }
	b.ReportMetric(float64(total)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(per(cpu), "cpu-µs/delivery")
	b.ReportMetric(float64(total)/float64(commits.Load()-commits0), "deliveries/commit")
	if thread != nil {
		share := func(d time.Duration) float64 { return 100 * d.Seconds() / elapsed.Seconds() }
		b.ReportMetric(per(writer.cpu), "writer-µs/delivery")
		b.ReportMetric(share(writer.cpu), "writer-cpu-%")
		b.ReportMetric(share(writer.runq), "writer-runq-%")
		b.ReportMetric(100*float64(states.disk)/float64(max(states.all, 1)), "writer-disk-%")
		b.ReportMetric(float64(writer.wchar)/1024/float64(total), "wal-KiB/delivery")
	}
}

// countCommits counts the commits of db's writer connection from now on,
// with SQLite's commit hook: every transaction the writer commits, so
// deliveries per commit is the writer's batch size.
func countCommits(b *testing.B, db *DB) *atomic.Int64 {
	b.Helper()
	var n atomic.Int64
	c, err := db.wdb.Conn(context.Background()) // the one connection, between batches
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	err = c.Raw(func(dc any) error {
		h, ok := dc.(msqlite.HookRegisterer)
		if !ok {
			return fmt.Errorf("%T has no commit hook", dc)
		}
		h.RegisterCommitHook(func() int32 {
			n.Add(1)
			return 0 // go on with the commit
		})
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return &n
}

// floorOpen opens and migrates a database with the options the server
// uses, closed when the benchmark ends.
func floorOpen(b *testing.B, path string) *DB {
	b.Helper()
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	db, err := Open(context.Background(), path, Options{Secrets: box})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	})
	if err := db.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db
}

// floorSetup creates the bench's tenants and endpoints and returns the
// tenant ids.
func floorSetup(b *testing.B, db *DB) []string {
	b.Helper()
	ctx := context.Background()
	at := time.Now()
	var tenants []string
	for t := range floorTenants {
		id := fmt.Sprintf("bench_%d", t)
		if err := db.CreateTenant(ctx, hook.Tenant{ID: id, Name: id, CreatedAt: at}); err != nil {
			b.Fatal(err)
		}
		tenants = append(tenants, id)
		for e := range floorEndpoints {
			ep := hook.Endpoint{
				ID: hook.NewID(hook.PrefixEndpoint), TenantID: id, URL: fmt.Sprintf("http://127.0.0.1:9/e/%d", t*floorEndpoints+e),
				Events: []string{fmt.Sprintf("bench.type%d", e)}, Secrets: []hook.Secret{{Key: "whsec_floor"}},
				SignatureScheme: hook.SchemeStandard, MaxInFlight: 8, Timeout: 10 * time.Second,
				Status: hook.EndpointActive, CreatedAt: at, UpdatedAt: at,
			}
			if err := db.CreateEndpoint(ctx, ep); err != nil {
				b.Fatal(err)
			}
		}
	}
	return tenants
}

// floorEvents is batch k as herald bench sends it: to tenant k mod
// tenants, its events taking the types in turn, with ids and data shaped
// as the bench's.
func floorEvents(k int64, run string, tenants []string, pad string) []hook.Event {
	evs := make([]hook.Event, floorBatch)
	for i := range evs {
		n := k*floorBatch + int64(i)
		typ := (k/floorTenants*floorBatch + int64(i)) % floorEndpoints
		evs[i] = hook.Event{
			ID:       "evt_bench_" + run + "_" + strconv.FormatInt(n, 10),
			TenantID: tenants[k%floorTenants],
			Type:     fmt.Sprintf("bench.type%d", typ),
			Data:     floorData(n, pad),
		}
	}
	return evs
}

// floorData is {"seq":n,"pad":"xx…"}, floorPayload bytes long.
func floorData(n int64, pad string) []byte {
	const head, mid, end = `{"seq":`, `,"pad":"`, `"}`
	num := strconv.FormatInt(n, 10)
	fill := floorPayload - len(head) - len(num) - len(mid) - len(end)
	return []byte(head + num + mid + pad[:fill] + end)
}

// floorOutcome is a successful attempt of c shaped as the dispatcher
// records it: the request headers it sent (about 210 bytes of JSON), a
// short response header and no body.
func floorOutcome(c hook.Claim) hook.Outcome {
	start := hook.Timestamp(time.Now())
	return hook.Outcome{
		Status: hook.DeliverySucceeded,
		Attempt: hook.Attempt{
			ID: hook.NewID(hook.PrefixAttempt), DeliveryID: c.Delivery.ID, EndpointID: c.Endpoint.ID,
			TenantID: c.Delivery.TenantID, Number: c.Delivery.AttemptCount + 1,
			StartedAt: start, Duration: 800 * time.Microsecond,
			RequestHeader: floorRequestHeader(c.Event.ID, start),
			StatusCode:    http.StatusOK,
			ResponseHeader: http.Header{
				"Date": {"Sun, 29 Nov 2026 11:51:38 GMT"},
			},
		},
	}
}

func floorRequestHeader(eventID string, t time.Time) http.Header {
	var sig [32]byte // an HMAC-SHA256's length; its bytes do not matter
	rand.Read(sig[:])
	return http.Header{
		"Content-Type":      {"application/json"},
		"User-Agent":        {"Herald/dev"},
		"Webhook-Id":        {eventID},
		"Webhook-Signature": {"v1," + base64.StdEncoding.EncodeToString(sig[:])},
		"Webhook-Timestamp": {strconv.FormatInt(t.Unix(), 10)},
	}
}

// processCPU is the user and system CPU time of the whole process.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writerThread is the OS thread that a writer loop runs on, locked.
type writerThread struct{ tid int }

// lockWriter replaces db's writer by one whose loop, the same code, runs
// locked to an OS thread of its own, so that the thread's CPU time is the
// writer goroutine's. The writer Open started is stopped first; nothing is
// queued on it between batches here, and the new one starts with an empty
// statement cache, as a new DB would.
func lockWriter(b *testing.B, db *DB) *writerThread {
	b.Helper()
	old := db.w
	if err := old.close(); err != nil {
		b.Fatal(err)
	}
	w := &writer{
		db:     db.wdb,
		stmts:  newStmtCache(db.wdb),
		window: old.window,
		max:    old.max,
		ops:    make(chan *writeOp),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	tid := make(chan int)
	go func() {
		// The goroutine ends with the loop and its thread with it, never
		// to run another goroutine.
		runtime.LockOSThread()
		tid <- syscall.Gettid()
		w.loop()
	}()
	db.w = w
	return &writerThread{tid: <-tid}
}

// threadStat is what the kernel counts of a thread: the time it ran on
// a CPU and waited for one to run on (from schedstat: nanoseconds, unlike
// the clock ticks of stat), and the bytes it passed to write calls, which
// for the writer are the frames it appends to the write-ahead log.
type threadStat struct {
	cpu, runq time.Duration
	wchar     int64
}

func (s threadStat) sub(t threadStat) threadStat {
	return threadStat{cpu: s.cpu - t.cpu, runq: s.runq - t.runq, wchar: s.wchar - t.wchar}
}

// stat reads the thread's counters; zero for a nil thread.
func (t *writerThread) stat(b *testing.B) threadStat {
	if t == nil {
		return threadStat{}
	}
	dir := fmt.Sprintf("/proc/self/task/%d/", t.tid)
	sched, err := os.ReadFile(dir + "schedstat")
	if err != nil {
		b.Fatal(err)
	}
	var s threadStat
	var cpu, runq int64
	if _, err := fmt.Sscan(string(sched), &cpu, &runq); err != nil {
		b.Fatalf("schedstat %q: %v", sched, err)
	}
	s.cpu, s.runq = time.Duration(cpu), time.Duration(runq)
	io, err := os.ReadFile(dir + "io")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(io)) {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			if s.wchar, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
				b.Fatal(err)
			}
		}
	}
	return s
}

// threadStates counts samples of a thread's state.
type threadStates struct{ all, disk int }

// sample reads the thread's state every millisecond until the function it
// returns is called, which returns the counts. A thread in state D waits
// for the disk: for the writer, in the fsync of a commit (a wait for more
// writes is S, a sleep on a futex). A nil thread samples nothing.
func (t *writerThread) sample() func() threadStates {
	if t == nil {
		return func() threadStates { return threadStates{} }
	}
	stop := make(chan struct{})
	counts := make(chan threadStates)
	go func() {
		var s threadStates
		path := fmt.Sprintf("/proc/self/task/%d/stat", t.tid)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				counts <- s
				return
			case <-tick.C:
			}
			b, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			// The state follows the command name, which is in
			// parentheses and may itself hold spaces.
			i := strings.LastIndexByte(string(b), ')')
			if i < 0 || i+2 >= len(b) {
				continue
			}
			s.all++
			if b[i+2] == 'D' {
				s.disk++
			}
		}
	}()
	return func() threadStates {
		close(stop)
		return <-counts
	}
}

// BenchmarkBareRows writes the rows of b.N deliveries with plain SQL on one
// connection (WAL, synchronous=FULL, prepared statements, no savepoints),
// in each of several databases: in each transaction the events and
// deliveries of new deliveries, and the completion (delivery update,
// attempt row) of those of the transaction before. It reports, for each
// database, the CPU time per delivery (of the one thread that writes all
// of them, see bareSet) and the write-ahead log it grew by per delivery.
//
//   - full: Herald's schema, migrated by Migrate, foreign keys enforced
//     as the writer's connection does, 200 deliveries a transaction.
//   - tx100, tx50: the same in smaller transactions; the writer commits
//     about 100 deliveries at a time under load (deliveries/commit of
//     BenchmarkWriterPerDelivery).
//   - nofk: full without foreign key checks.
//   - noindex: full with every secondary index that a migration creates by
//     name dropped (bareIndexes; the UNIQUE constraints' indexes stay).
//   - minimal: the same columns with the integer primary key alone: no
//     UNIQUE constraint, AUTOINCREMENT, foreign key or index; the delivery
//     is updated by its rowid.
//
// Checkpoints are left out (wal_autocheckpoint=0): Herald runs them on a
// connection of its own, off the writer.
func BenchmarkBareRows(b *testing.B) {
	dir := b.TempDir()
	set := bareSet{
		newBareRun(b, "full", bareHerald(b, dir, "full", nil), bareOptions{fk: true, tx: 200}),
		newBareRun(b, "tx100", bareHerald(b, dir, "tx100", nil), bareOptions{fk: true, tx: 100}),
		newBareRun(b, "tx50", bareHerald(b, dir, "tx50", nil), bareOptions{fk: true, tx: 50}),
		newBareRun(b, "nofk", bareHerald(b, dir, "nofk", nil), bareOptions{tx: 200}),
		newBareRun(b, "noindex", bareHerald(b, dir, "noindex", bareIndexes), bareOptions{fk: true, tx: 200}),
		newBareRun(b, "minimal", bareMinimal(b, dir), bareOptions{minimal: true, tx: 200}),
	}
	set.run(b)
	for _, r := range set {
		b.ReportMetric(r.perDelivery(), r.name+"-µs/delivery")
		b.ReportMetric(r.walPerDelivery(b), r.name+"-walKiB/delivery")
	}
}

// BenchmarkBareRowsIndex is BenchmarkBareRows's full variant beside the
// same with one secondary index of events, deliveries or attempts
// dropped: saved-µs/delivery is what that index costs. The differences are
// a few µs, well under the noise of separate runs on a shared machine, so
// the two databases are written by turns in one run (see bareSet), with
// the garbage collector off, whose assists would land on either.
// saved-walKiB/delivery, the pages the index adds to each commit, does
// not depend on the machine's load.
func BenchmarkBareRowsIndex(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for _, idx := range bareIndexes {
		b.Run(idx, func(b *testing.B) {
			runtime.GC()
			dir := b.TempDir()
			set := bareSet{
				newBareRun(b, "full", bareHerald(b, dir, "full", nil), bareOptions{fk: true, tx: 200}),
				newBareRun(b, "drop", bareHerald(b, dir, "drop", []string{idx}), bareOptions{fk: true, tx: 200}),
			}
			set.run(b)
			full, drop := set[0], set[1]
			b.ReportMetric(full.perDelivery(), "full-µs/delivery")
			b.ReportMetric(full.perDelivery()-drop.perDelivery(), "saved-µs/delivery")
			b.ReportMetric(full.walPerDelivery(b)-drop.walPerDelivery(b), "saved-walKiB/delivery")
		})
	}
}

// bareIndexes are the secondary indexes that Herald's migrations create on
// events, deliveries and attempts.
var bareIndexes = []string{
	"events_tenant", "events_tenant_type", "events_created",
	"deliveries_endpoint", "deliveries_tenant", "deliveries_leased", "deliveries_pending",
	"deliveries_endpoint_created", "deliveries_failed",
	"attempts_seq", "attempts_tenant", "attempts_endpoint", "attempts_endpoint_started",
}

// bareHerald migrates a new database name.db in dir, drops the indexes
// drop, and returns its path.
func bareHerald(b *testing.B, dir, name string, drop []string) string {
	b.Helper()
	path := filepath.Join(dir, name+".db")
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	db, err := Open(context.Background(), path, Options{Secrets: box, CheckpointInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	c := bareOpen(b, path, false)
	defer c.Close()
	for _, idx := range drop {
		if _, err := c.Exec("DROP INDEX " + idx); err != nil {
			b.Fatal(err)
		}
	}
	// Start the measured log from nothing.
	if _, err := c.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	return path
}

// bareMinimal creates minimal.db in dir, the tables' columns with their
// primary keys alone, and returns its path.
func bareMinimal(b *testing.B, dir string) string {
	b.Helper()
	path := filepath.Join(dir, "minimal.db")
	c := bareOpen(b, path, false)
	defer c.Close()
	for _, q := range []string{
		`CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, tenant_id TEXT NOT NULL,
			type TEXT NOT NULL, data BLOB NOT NULL, created_at INTEGER NOT NULL) STRICT`,
		`CREATE TABLE deliveries (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, event_id TEXT NOT NULL,
			endpoint_id TEXT NOT NULL, tenant_id TEXT NOT NULL, event_type TEXT NOT NULL, status TEXT NOT NULL,
			attempt_count INTEGER NOT NULL, next_attempt_at INTEGER, created_at INTEGER NOT NULL,
			updated_at INTEGER NOT NULL, claim_token TEXT, lease_until INTEGER,
			replays INTEGER NOT NULL DEFAULT 0, replay_status TEXT NOT NULL DEFAULT '',
			unscheduled INTEGER NOT NULL DEFAULT 0) STRICT`,
		`CREATE TABLE attempts (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, delivery_id TEXT NOT NULL,
			endpoint_id TEXT NOT NULL, tenant_id TEXT NOT NULL, number INTEGER NOT NULL,
			started_at INTEGER NOT NULL, duration_us INTEGER NOT NULL, request_headers TEXT NOT NULL,
			status_code INTEGER NOT NULL, response_headers TEXT NOT NULL, response_body BLOB,
			error TEXT NOT NULL, error_message TEXT NOT NULL, next_retry_at INTEGER) STRICT`,
		"PRAGMA wal_checkpoint(TRUNCATE)",
	} {
		if _, err := c.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	return path
}

// bareOpen opens path on one connection as Herald's writer does (see
// DB.open), but with checkpoints off and foreign keys as fk says.
func bareOpen(b *testing.B, path string, fk bool) *sql.DB {
	b.Helper()
	q := url.Values{}
	q.Set("_foreign_keys", "0")
	if fk {
		q.Set("_foreign_keys", "1")
	}
	q.Set("_busy_timeout", "5000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", "cache_size(-16384)")
	q.Add("_pragma", "wal_autocheckpoint(0)")
	abs, err := filepath.Abs(path)
	if err != nil {
		b.Fatal(err)
	}
	c, err := sql.Open("sqlite", dsn(abs, q))
	if err != nil {
		b.Fatal(err)
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxLifetime(0)
	c.SetConnMaxIdleTime(0)
	return c
}

// bareOptions are the variants of a bareRun: foreign keys enforced, the
// minimal schema, deliveries a transaction.
type bareOptions struct {
	fk, minimal bool
	tx          int
}

// bareSet is databases written by turns, 200 deliveries each at a time
// (in their own transaction sizes), the first to go changing every turn,
// all from one goroutine locked to its thread, whose CPU time each turn is
// charged to its database. Load from elsewhere on the machine that comes
// and goes over seconds then weighs on each alike, and differences of a
// few µs a delivery stand out of it.
type bareSet []*bareRun

func (s bareSet) run(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for turn := 0; turn*200 < b.N; turn++ {
		n := min(200, b.N-turn*200)
		for i := range s {
			s[(turn+i)%len(s)].write(b, n)
		}
	}
	for _, r := range s {
		r.write(b, 0) // complete the last deliveries
	}
	b.StopTimer()
	for _, r := range s {
		if r.inserted != b.N || r.attempts != int64(b.N) {
			b.Fatalf("%s: %d deliveries, %d attempts, want %d", r.name, r.inserted, r.attempts, b.N)
		}
	}
}

// bareDelivery is a delivery that a transaction inserted, for the next to
// complete.
type bareDelivery struct {
	seq      int64
	id       string
	eventID  string
	endpoint string
	tenant   string
}

// bareRun writes deliveries to one database.
type bareRun struct {
	name string
	path string
	o    bareOptions
	c    *sql.DB

	insEvent, insDelivery, update, insAttempt, seqUpdate *sql.Stmt

	pad, run   string
	prev       []bareDelivery // inserted, to complete in the next transaction
	inserted   int
	attempts   int64
	cpu        time.Duration
	walAtStart int64
}

func newBareRun(b *testing.B, name, path string, o bareOptions) *bareRun {
	b.Helper()
	r := &bareRun{name: name, path: path, o: o, c: bareOpen(b, path, o.fk),
		pad: strings.Repeat("x", floorPayload), run: strconv.FormatInt(time.Now().UnixNano(), 36)}
	b.Cleanup(func() { r.c.Close() })
	prep := func(q string) *sql.Stmt {
		s, err := r.c.Prepare(q)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	r.insEvent = prep(`INSERT INTO events (id, tenant_id, type, data, created_at) VALUES (?, ?, ?, ?, ?)`)
	r.insDelivery = prep(`INSERT INTO deliveries (id, event_id, endpoint_id, tenant_id, event_type, status,
		attempt_count, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if o.minimal {
		r.update = prep(`UPDATE deliveries SET attempt_count = ?, updated_at = ?, status = ?, next_attempt_at = NULL WHERE seq = ?`)
	} else {
		r.update = prep(`UPDATE deliveries SET attempt_count = ?, updated_at = ?, status = ?, next_attempt_at = NULL WHERE id = ?`)
		// Herald numbers attempts in attempt_seq, once a batch.
		r.seqUpdate = prep(`UPDATE attempt_seq SET last = ?`)
	}
	r.insAttempt = prep(`INSERT INTO attempts (id, delivery_id, endpoint_id, tenant_id, number, started_at, duration_us,
		request_headers, status_code, response_headers, response_body, error, error_message, next_retry_at, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	r.walAtStart = r.walSize(b)
	return r
}

// write inserts n deliveries, in transactions of o.tx, each completing the
// deliveries of the one before; n 0 completes those left.
func (r *bareRun) write(b *testing.B, n int) {
	start := threadCPU(b)
	for {
		k := min(r.o.tx, n)
		if k == 0 && len(r.prev) == 0 {
			break
		}
		r.tx(b, k)
		n -= k
		if n == 0 && k != 0 {
			break
		}
	}
	r.cpu += threadCPU(b) - start
}

// tx inserts n deliveries and completes those of the transaction before.
func (r *bareRun) tx(b *testing.B, n int) {
	ctx := context.Background()
	tx, err := r.c.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	exec := func(s *sql.Stmt, args ...any) sql.Result {
		res, err := tx.StmtContext(ctx, s).ExecContext(ctx, args...)
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	at := time.Now()
	now := micros(at)
	var next []bareDelivery
	for range n {
		i := r.inserted
		k := int64(i / floorBatch)
		tenant := fmt.Sprintf("bench_%d", k%floorTenants)
		typ := fmt.Sprintf("bench.type%d", (k/floorTenants*floorBatch+int64(i%floorBatch))%floorEndpoints)
		d := bareDelivery{
			id: hook.NewID(hook.PrefixDelivery), eventID: "evt_bench_" + r.run + "_" + strconv.Itoa(i),
			endpoint: "ep_" + tenant + "_" + typ, tenant: tenant,
		}
		exec(r.insEvent, d.eventID, tenant, typ, floorData(int64(i), r.pad), now)
		res := exec(r.insDelivery, d.id, d.eventID, d.endpoint, tenant, typ, string(hook.DeliveryPending), 0, now, now, now)
		if d.seq, err = res.LastInsertId(); err != nil {
			b.Fatal(err)
		}
		next = append(next, d)
		r.inserted++
	}
	for _, d := range r.prev {
		key := any(d.id)
		if r.o.minimal {
			key = d.seq
		}
		exec(r.update, 1, now+800, string(hook.DeliverySucceeded), key)
		r.attempts++
		reqHeader, err := jsonText(floorRequestHeader(d.eventID, at))
		if err != nil {
			b.Fatal(err)
		}
		exec(r.insAttempt, hook.NewID(hook.PrefixAttempt), d.id, d.endpoint, d.tenant, 1, now, 800,
			reqHeader, http.StatusOK, `{"Date":["Sun, 29 Nov 2026 11:51:38 GMT"]}`, nil, "", "", nil, r.attempts)
	}
	if r.seqUpdate != nil && len(r.prev) > 0 {
		exec(r.seqUpdate, r.attempts)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	r.prev = next
}

func (r *bareRun) perDelivery() float64 {
	return float64(r.cpu.Nanoseconds()) / 1e3 / float64(r.inserted)
}

// walPerDelivery is the log's growth per delivery, KiB: with checkpoints
// off, every frame the run appended is still in the file.
func (r *bareRun) walPerDelivery(b *testing.B) float64 {
	return float64(r.walSize(b)-r.walAtStart) / 1024 / float64(r.inserted)
}

func (r *bareRun) walSize(b *testing.B) int64 {
	fi, err := os.Stat(r.path + "-wal")
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

// threadCPU is the CPU time of the calling thread, user and system.
func threadCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
