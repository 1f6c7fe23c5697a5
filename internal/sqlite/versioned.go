package sqlite

import (
	"cmp"
	"sync"
)

// versioned keeps values read from the file for as long as a version row
// (match_version, endpoint_version) keeps the value they were read under.
// Triggers set that row to a new random value on every change to what the
// values hold, whoever makes it; random values do not repeat, so a value
// read inside a transaction that rolled back is never taken for a later
// one. It keeps at most limit keys; past them, values are read each time.
type versioned[V any] struct {
	mu      sync.Mutex
	limit   int
	version int64
	m       map[string]V
}

// versionedLimit is the keys a versioned cache keeps by default.
const versionedLimit = 10000

// get returns the value of key read under version, if kept.
func (c *versioned[V]) get(version int64, key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != version {
		var zero V
		return zero, false
	}
	v, ok := c.m[key]
	return v, ok
}

// put keeps v, read under version, for key; values read under another
// version are dropped.
func (c *versioned[V]) put(version int64, key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != version || c.m == nil {
		c.version = version
		c.m = map[string]V{}
	}
	if len(c.m) < cmp.Or(c.limit, versionedLimit) {
		c.m[key] = v
	}
}

// len returns the number of keys kept.
func (c *versioned[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
