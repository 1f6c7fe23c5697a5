package sqlite

import (
	"sync"
	"time"
)

// leaseTable holds the leases of the deliveries this DB's claims leased.
//
// They live in memory, not in the file: the file's lock gives the database
// to one process, so no other process could honour a lease, and a process
// that stops loses its leases with it (as the first claim after a restart
// used to end every lease in the file). Keeping them here takes the claim
// off the writer: a claim is a read and a map update, with no write to
// commit and no fsync to wait for.
//
// A lease ends when the write that completes or releases its delivery has
// committed, never before: until then the delivery is pending in the file,
// and only its lease keeps the next claim from taking it again. From the
// moment that write checks the lease to the end of its batch, the lease
// counts as live even if it expires meanwhile (settle, done).
type leaseTable struct {
	mu   sync.Mutex
	byID map[string]lease // by delivery id
}

type lease struct {
	seq      int64
	endpoint string
	token    string
	until    time.Time
	// settling is set while a write that ends the lease (a completion or
	// a release) is in its batch: the lease then counts as live, expired
	// or not, so that no claim takes the delivery before that write has
	// committed or failed.
	settling bool
}

// leaseKeep is how long an expired lease is kept, so that the holder of an
// attempt that overran it may still record the attempt unless the delivery
// was claimed again meanwhile.
const leaseKeep = time.Hour

// live returns the number of live leases at now of each endpoint and the
// seqs of their deliveries, and forgets leases long expired.
func (t *leaseTable) live(now time.Time) (perEndpoint map[string]int, seqs []int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	perEndpoint = map[string]int{}
	for id, l := range t.byID {
		switch {
		case l.until.After(now) || l.settling:
			perEndpoint[l.endpoint]++
			seqs = append(seqs, l.seq)
		case l.until.Add(leaseKeep).Before(now):
			delete(t.byID, id)
		}
	}
	return perEndpoint, seqs
}

// add records a lease of the delivery id, replacing an expired one.
func (t *leaseTable) add(id string, l lease) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil {
		t.byID = map[string]lease{}
	}
	t.byID[id] = l
}

// settle reports whether token holds the lease of the delivery id and, if
// it does, marks it settling until done ends it or keeps it, and returns
// the delivery's endpoint.
func (t *leaseTable) settle(id, token string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.byID[id]
	if !ok || token == "" || l.token != token {
		return "", false
	}
	l.settling = true
	t.byID[id] = l
	return l.endpoint, true
}

// done ends the settling lease of the delivery id that token holds, when
// end is set, or else keeps it as it was before settle.
func (t *leaseTable) done(id, token string, end bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.byID[id]
	if !ok || l.token != token {
		return
	}
	if end {
		delete(t.byID, id)
		return
	}
	l.settling = false
	t.byID[id] = l
}
