// Package storetest is the conformance suite of hook.Store: the behaviour
// every store implementation must have, run by each implementation's tests
// against a real database.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldhq/herald/internal/hook"
)

// OpenFunc returns a fresh, empty, migrated store for one test and closes it
// when the test ends (t.Cleanup). Every subtest opens its own.
type OpenFunc func(t *testing.T) hook.Store

// Run runs the suite against the stores open makes. Subtests run in
// parallel, each on its own store, so open must give each call a database
// of its own (a file in t.TempDir(), a fresh PostgreSQL schema).
//
// Beyond the doc comments of hook.Store, the suite pins down what both stores
// must agree on: cursors are opaque and a cursor of another list is
// hook.ErrInvalidCursor; times come back in UTC truncated to the
// microsecond; nil and empty maps, lists and retry schedules come back as
// they were given; deliveries list newest event first.
func Run(t *testing.T, open func(t *testing.T) hook.Store) {
	t.Run("Store", func(t *testing.T) { testStore(t, open) })
	t.Run("Tenant", func(t *testing.T) { testTenants(t, open) })
	t.Run("APIKey", func(t *testing.T) { testAPIKeys(t, open) })
	t.Run("Endpoint", func(t *testing.T) { testEndpoints(t, open) })
	t.Run("Ingest", func(t *testing.T) { testIngest(t, open) })
	t.Run("IngestBatch", func(t *testing.T) { testIngestBatch(t, open) })
	t.Run("Event", func(t *testing.T) { testEvents(t, open) })
	t.Run("Delivery", func(t *testing.T) { testDeliveries(t, open) })
	t.Run("EventType", func(t *testing.T) { testEventTypes(t, open) })
	t.Run("Dispatch", func(t *testing.T) { testDispatch(t, open) })
	t.Run("ClaimLimits", func(t *testing.T) { testClaimLimits(t, open) })
	t.Run("Log", func(t *testing.T) { testLog(t, open) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, open) })
	t.Run("DisableReport", func(t *testing.T) { testDisableReport(t, open) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open) })
	t.Run("Replay", func(t *testing.T) { testReplay(t, open) })
}

func testStore(t *testing.T, open OpenFunc) {
	t.Run("MigrateAgain", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for range 2 {
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate on a migrated store: %v", err)
			}
		}
		// Data written before a repeated Migrate stays.
		createTenant(t, s, "acme")
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if _, err := s.Tenant(t.Context(), "acme"); err != nil {
			t.Errorf("Tenant after Migrate: %v", err)
		}
	})
	t.Run("OperationalTenant", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		got, err := s.Tenant(t.Context(), hook.OperationalTenant)
		if err != nil {
			t.Fatalf("Tenant(%q) after Migrate: %v", hook.OperationalTenant, err)
		}
		if got.ID != hook.OperationalTenant {
			t.Errorf("ID = %q, want %q", got.ID, hook.OperationalTenant)
		}
	})
	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

// now is a fixed time with nanoseconds, which stores truncate to
// microseconds.
var now = time.Date(2026, 5, 8, 10, 15, 0, 123456789, time.UTC)

// seq makes names unique within a test binary.
var seq atomic.Int64

func uniq(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, seq.Add(1))
}

func createTenant(t testing.TB, s hook.Store, id string) hook.Tenant {
	t.Helper()
	tn := hook.Tenant{ID: id, Name: "Tenant " + id, CreatedAt: hook.Timestamp(now)}
	if err := s.CreateTenant(context.Background(), tn); err != nil {
		t.Fatalf("CreateTenant(%q): %v", id, err)
	}
	return tn
}

// newEndpoint returns a valid endpoint of tenant that subscribes to events.
func newEndpoint(tenant string, events ...string) hook.Endpoint {
	if events == nil {
		events = []string{}
	}
	return hook.Endpoint{
		ID:              hook.NewID(hook.PrefixEndpoint),
		TenantID:        tenant,
		URL:             "https://merchant.example.com/hooks",
		Events:          events,
		Secrets:         []hook.Secret{{Key: "whsec_" + uniq("secret")}},
		SignatureScheme: hook.SchemeStandard,
		MaxInFlight:     hook.DefaultMaxInFlight,
		Timeout:         hook.DefaultTimeout,
		Status:          hook.EndpointActive,
		CreatedAt:       hook.Timestamp(now),
		UpdatedAt:       hook.Timestamp(now),
	}
}

func createEndpoint(t testing.TB, s hook.Store, tenant string, events ...string) hook.Endpoint {
	t.Helper()
	e := newEndpoint(tenant, events...)
	if err := s.CreateEndpoint(context.Background(), e); err != nil {
		t.Fatalf("CreateEndpoint: %v", err)
	}
	return e
}

func newEvent(tenant, typ string) hook.Event {
	return hook.Event{
		ID:        hook.NewID(hook.PrefixEvent),
		TenantID:  tenant,
		Type:      typ,
		Data:      []byte(`{"payoutId":"po_44","amount":12345678901234567890}`),
		CreatedAt: hook.Timestamp(now),
	}
}

func ingest(t testing.TB, s hook.Store, ev hook.Event) hook.IngestResult {
	t.Helper()
	res, err := s.Ingest(context.Background(), ev)
	if err != nil {
		t.Fatalf("Ingest(%s): %v", ev.ID, err)
	}
	if res.Duplicate {
		t.Fatalf("Ingest(%s): Duplicate on a new id", ev.ID)
	}
	return res
}

// wantErr fails the test unless err is target.
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

// diff fails the test when got and want differ; times compare with Equal.
func diff(t testing.TB, what string, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// listFunc lists one page.
type listFunc[T any] func(p hook.ListParams) (hook.Page[T], error)

// collect walks every page of a list with the given page size and returns
// the items in order, failing on an empty page that has a next cursor and
// on pages longer than the limit.
func collect[T any](t testing.TB, limit int, list listFunc[T]) []T {
	t.Helper()
	pageLimit := hook.ListParams{Limit: limit}.PageLimit()
	var all []T
	cursor := ""
	for range 1000 {
		p, err := list(hook.ListParams{Cursor: cursor, Limit: limit})
		if err != nil {
			t.Fatalf("list (cursor %q): %v", cursor, err)
		}
		if len(p.Items) > pageLimit {
			t.Fatalf("page has %d items, limit %d", len(p.Items), pageLimit)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		if len(p.Items) < pageLimit {
			t.Fatalf("page of %d items (limit %d) has a next cursor", len(p.Items), pageLimit)
		}
		cursor = p.Next
	}
	t.Fatal("list did not end after 1000 pages")
	return nil
}

// testPaging lists with several page sizes and checks that each walk
// returns want, in order: no duplicate, no gap.
func testPaging[T any](t *testing.T, want []string, id func(T) string, list listFunc[T]) {
	t.Helper()
	for _, limit := range []int{1, 2, 3, len(want), len(want) + 1, 0} {
		got := collect(t, limit, list) // 0: the default limit
		ids := make([]string, len(got))
		for i, v := range got {
			ids[i] = id(v)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("limit %d: listed %q, want %q", limit, ids, want)
		}
	}
}

// testBadCursors checks that a list refuses a cursor it did not make,
// including a valid cursor of another list.
func testBadCursors[T any](t *testing.T, foreign string, list listFunc[T]) {
	t.Helper()
	for _, c := range []string{"not a cursor", "Zm9vYmFy", "!!!", foreign} {
		_, err := list(hook.ListParams{Cursor: c})
		wantErr(t, fmt.Sprintf("cursor %q", c), err, hook.ErrInvalidCursor)
	}
}

// foreignCursor returns a valid event-types cursor, which no other list
// accepts.
func foreignCursor(t testing.TB, s hook.Store) string {
	t.Helper()
	ctx := context.Background()
	for _, n := range []string{"foreign.a", "foreign.b"} {
		if err := s.CreateEventType(ctx, hook.EventType{Name: n, CreatedAt: now}); err != nil {
			t.Fatalf("CreateEventType: %v", err)
		}
	}
	p, err := s.ListEventTypes(ctx, hook.ListParams{Limit: 1})
	if err != nil || p.Next == "" {
		t.Fatalf("ListEventTypes: next %q, err %v", p.Next, err)
	}
	return p.Next
}

// foreignEventCursor returns a valid events cursor, which no other list
// accepts.
func foreignEventCursor(t testing.TB, s hook.Store) string {
	t.Helper()
	id := uniq("foreign")
	createTenant(t, s, id)
	ingest(t, s, newEvent(id, "a.b"))
	ingest(t, s, newEvent(id, "a.b"))
	p, err := s.ListEvents(context.Background(), hook.EventFilter{TenantID: id, ListParams: hook.ListParams{Limit: 1}})
	if err != nil || p.Next == "" {
		t.Fatalf("ListEvents: next %q, err %v", p.Next, err)
	}
	return p.Next
}
