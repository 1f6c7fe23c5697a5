package sqlite

import (
	"sync"

	"github.com/heraldhq/herald/internal/hook"
)

// hotQueue holds the deliveries this DB ingested that no claim has taken
// from it yet, each with its event, in ingest order per endpoint.
//
// It spares a claim the claim query, which probes every active endpoint
// and costs milliseconds under a backlog, where most claims under load
// only want what was just ingested. It is a shortcut, never the record:
// the file holds every pending delivery, a claim checks each delivery it
// takes from here against the file (still pending, due, its endpoint
// active), and the claim query still runs (see ClaimDeliveries), finding
// whatever this queue does not hold: retries, replays, deliveries from
// before a restart, and those this queue had no room for.
type hotQueue struct {
	mu        sync.Mutex
	max       int // entries held at most; beyond it, new ones are left to the claim query
	maxEvents int // entries that keep their event at most; beyond it, claims read the event
	n         int
	nEvents   int
	byEP      map[string]*hotList
	order     []string // endpoints with entries, in the order they got their first
	start     int      // where in order the next take begins
}

type hotEntry struct {
	seq   int64
	id    string
	event *hook.Event // nil: not kept, for memory's sake
}

type hotList struct {
	entries []hotEntry
	head    int
}

func newHotQueue(max, maxEvents int) *hotQueue {
	return &hotQueue{max: max, maxEvents: maxEvents, byEP: map[string]*hotList{}}
}

// push adds the new deliveries of a committed ingest, as far as there is
// room; past maxEvents entries, without their event.
func (q *hotQueue) push(endpoint string, e hotEntry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n >= q.max {
		return
	}
	if e.event != nil {
		if q.nEvents >= q.maxEvents {
			e.event = nil
		} else {
			q.nEvents++
		}
	}
	l := q.byEP[endpoint]
	if l == nil {
		l = &hotList{}
		q.byEP[endpoint] = l
		q.order = append(q.order, endpoint)
	}
	l.entries = append(l.entries, e)
	q.n++
}

// endpoints returns the endpoints that have entries.
func (q *hotQueue) endpoints() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.order...)
}

// take removes and returns up to room[endpoint] entries of each endpoint
// in room, and no more than limit in all, in the claim query's fair
// order: every endpoint's first entry before any endpoint's second. Each
// entry is offered to keep first; one it refuses (a delivery leased
// already, say) is dropped without counting against the room.
func (q *hotQueue) take(room map[string]int, limit int, keep func(hotEntry) bool) (map[string][]hotEntry, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string][]hotEntry{}
	taken := 0
	if len(q.order) == 0 {
		return out, 0
	}
	q.start++ // another endpoint goes first next time
	for round := 0; taken < limit; round++ {
		progress := false
		for i := range q.order {
			ep := q.order[(q.start+i)%len(q.order)]
			if taken >= limit {
				break
			}
			l := q.byEP[ep]
			if l == nil || len(out[ep]) >= room[ep] {
				continue
			}
			for l.head < len(l.entries) {
				e := l.entries[l.head]
				l.entries[l.head] = hotEntry{} // let the event go
				l.head++
				q.forget(e)
				if keep(e) {
					out[ep] = append(out[ep], e)
					taken++
					progress = true
					break
				}
			}
		}
		if !progress {
			break
		}
	}
	q.compact()
	return out, taken
}

// drop forgets every entry of endpoint.
func (q *hotQueue) drop(endpoint string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if l := q.byEP[endpoint]; l != nil {
		for _, e := range l.entries[l.head:] {
			q.forget(e)
		}
		l.entries, l.head = nil, 0
	}
	q.compact()
}

// forget counts e out. Called with mu held.
func (q *hotQueue) forget(e hotEntry) {
	q.n--
	if e.event != nil {
		q.nEvents--
	}
}

// compact forgets the endpoints left without entries and the taken
// entries' slots. Called with mu held.
func (q *hotQueue) compact() {
	order := q.order[:0]
	for _, ep := range q.order {
		l := q.byEP[ep]
		switch {
		case l.head >= len(l.entries):
			delete(q.byEP, ep)
			continue
		case l.head > 64 && l.head*2 > len(l.entries):
			l.entries = append(l.entries[:0], l.entries[l.head:]...)
			l.head = 0
		}
		order = append(order, ep)
	}
	clear(q.order[len(order):])
	q.order = order
}
