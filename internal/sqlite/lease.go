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
// and only its lease keeps the next claim from taking it again.
type leaseTable struct {
	mu   sync.Mutex
	byID map[string]lease // by delivery id
}

type lease struct {
	seq      int64
	endpoint string
	token    string
	until    time.Time
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
		case l.until.After(now):
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

// holds reports whether token holds the lease of the delivery id.
func (t *leaseTable) holds(id, token string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.byID[id]
	return ok && token != "" && l.token == token
}

// end ends the lease of the delivery id if token holds it.
func (t *leaseTable) end(id, token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.byID[id]; ok && l.token == token {
		delete(t.byID, id)
	}
}
