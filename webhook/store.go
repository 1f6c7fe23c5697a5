package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Store remembers, by webhook id, which requests a receiver is processing
// and which it has processed, so that a redelivered request is processed
// once. Receiver uses it; MemoryStore and SQLStore implement it.
//
// A claim carries a token chosen by the claimer, so that a claimer whose
// claim expired and was taken over cannot release its successor's claim.
type Store interface {
	// Claim atomically claims id for the caller until the time until,
	// unless a claim that has not expired at now or a processed record
	// exists. It reports which of the three it found.
	Claim(ctx context.Context, id, token string, now, until time.Time) (Claim, error)
	// Done records id as processed, to be remembered until the time until,
	// whoever holds the claim: the work is done either way.
	Done(ctx context.Context, id string, until time.Time) error
	// Release drops the claim on id if token still holds it, so that the
	// next delivery of id is processed.
	Release(ctx context.Context, id, token string) error
}

// Claim is the outcome of Store.Claim.
type Claim struct {
	State ClaimState
	// Until is when the record found or made expires: for InProgress, when
	// the other claim lapses unless it is released or done first.
	Until time.Time
}

// ClaimState says what Store.Claim found.
type ClaimState int

// Claim states.
const (
	Claimed    ClaimState = iota + 1 // the caller now holds the claim
	InProgress                       // another caller holds a claim that has not expired
	Processed                        // the id was processed; skip it
)

func (s ClaimState) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case InProgress:
		return "in progress"
	case Processed:
		return "processed"
	}
	return fmt.Sprintf("ClaimState(%d)", int(s))
}

// ErrStoreFull is returned by MemoryStore.Claim when every slot is taken by
// a claim in progress, so that nothing can be evicted.
var ErrStoreFull = errors.New("store full")

var _ Store = (*MemoryStore)(nil)

// MemoryStore is a Store in memory, for a receiver that runs as one
// process. It forgets everything when the process exits, so a redelivery
// that arrives after a restart is processed again; use SQLStore where that
// matters. It holds at most a fixed number of ids: when full, it forgets
// the oldest processed id first, so memory stays bounded and only the
// duplicates of the oldest deliveries can slip through.
type MemoryStore struct {
	mu      sync.Mutex
	max     int
	entries map[string]memoryEntry
	// done lists processed ids in the order they were marked done, oldest
	// first, so that expiry and eviction take the oldest in O(1). It may
	// hold stale refs (of ids claimed or done again since); they are
	// recognised by their until and skipped.
	done []doneRef
}

type memoryEntry struct {
	token string // of the claim holder; "" once processed
	done  bool
	until time.Time
}

type doneRef struct {
	id    string
	until time.Time
}

// NewMemoryStore returns an empty MemoryStore that holds at most maxIDs ids
// (at least 1).
func NewMemoryStore(maxIDs int) *MemoryStore {
	return &MemoryStore{max: max(maxIDs, 1), entries: make(map[string]memoryEntry)}
}

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, id, token string, now, until time.Time) (Claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	e, ok := s.entries[id]
	switch {
	case ok && now.Before(e.until) && e.done:
		return Claim{State: Processed, Until: e.until}, nil
	case ok && now.Before(e.until):
		return Claim{State: InProgress, Until: e.until}, nil
	case !ok && len(s.entries) >= s.max && !s.evict(now):
		return Claim{}, fmt.Errorf("claim %q: %w: %d claims in progress", id, ErrStoreFull, len(s.entries))
	}
	s.entries[id] = memoryEntry{token: token, until: until}
	return Claim{State: Claimed, Until: until}, nil
}

// Done implements Store.
func (s *MemoryStore) Done(_ context.Context, id string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[id]; !ok && len(s.entries) >= s.max {
		s.evict(time.Time{})
	}
	s.entries[id] = memoryEntry{done: true, until: until}
	s.done = append(s.done, doneRef{id: id, until: until})
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, id, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[id]; ok && !e.done && e.token == token {
		delete(s.entries, id)
	}
	return nil
}

// Len returns the number of ids s holds, expired ones that were not yet
// cleaned up included.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// expire forgets the processed ids at the front of the done list that
// expired at now. Processing timeouts and retention are each the same for
// every id, so the list is close to sorted by until; an id that expires out
// of order is forgotten a little late, and never served after its time,
// because Claim compares until itself.
func (s *MemoryStore) expire(now time.Time) {
	for len(s.done) > 0 {
		ref := s.done[0]
		if s.current(ref) {
			if now.Before(ref.until) {
				return
			}
			delete(s.entries, ref.id)
		}
		s.popDone()
	}
}

// evict makes room for one id: it forgets the oldest processed id or,
// failing that, every claim that expired at now. It reports whether there
// is room.
func (s *MemoryStore) evict(now time.Time) bool {
	for len(s.done) > 0 {
		ref := s.done[0]
		s.popDone()
		if s.current(ref) {
			delete(s.entries, ref.id)
			return true
		}
	}
	// Only claims are left. Each is released or marked done when its
	// handler returns, so this scan runs only when the store is too small
	// for the requests in flight.
	for id, e := range s.entries {
		if !e.done && !now.Before(e.until) {
			delete(s.entries, id)
		}
	}
	return len(s.entries) < s.max
}

// current reports whether ref still describes its id's record.
func (s *MemoryStore) current(ref doneRef) bool {
	e, ok := s.entries[ref.id]
	return ok && e.done && e.until.Equal(ref.until)
}

func (s *MemoryStore) popDone() {
	s.done[0] = doneRef{} // let the id string be collected
	s.done = s.done[1:]
}
