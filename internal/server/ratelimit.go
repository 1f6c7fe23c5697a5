package server

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// typeRateLimited is the problem type of a 429.
const typeRateLimited = problemBase + "rate-limited"

// maxLimitedTenants bounds the buckets a tenantLimiter keeps. A bucket that
// has refilled is dropped first (it is the same as a new one); beyond that,
// the least recently used, which at worst lets that tenant burst again.
const maxLimitedTenants = 10000

// tenantLimiter is the per-tenant ingest limit: one token bucket per tenant,
// in this process. Several processes behind a load balancer each allow the
// rate: the limit protects a node (and the database it writes) from one
// tenant's flood, so that other tenants are not slowed; it is not a quota.
type tenantLimiter struct {
	rate    rate.Limit
	burst   int
	refill  time.Duration // how long an empty bucket takes to fill
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

// newTenantLimiter returns a limiter of perSecond events per tenant with a
// burst of one second's worth (at least 1), or nil for no limit.
func newTenantLimiter(perSecond float64) *tenantLimiter {
	if perSecond <= 0 {
		return nil
	}
	burst := max(1, int(math.Ceil(perSecond)))
	return &tenantLimiter{
		rate:    rate.Limit(perSecond),
		burst:   burst,
		refill:  time.Duration(float64(burst) / perSecond * float64(time.Second)),
		buckets: map[string]*bucket{},
	}
}

// allow takes one event from tenant's bucket at now, or, when the bucket is
// empty, takes nothing and returns how long until it holds one.
func (l *tenantLimiter) allow(tenant string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[tenant]
	if !ok {
		if len(l.buckets) >= maxLimitedTenants {
			l.evict(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[tenant] = b
	}
	b.used = now
	r := b.lim.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// evict drops the buckets that have refilled since their last use, or, when
// none has, the least recently used one.
func (l *tenantLimiter) evict(now time.Time) {
	var oldest string
	for id, b := range l.buckets {
		if now.Sub(b.used) >= l.refill {
			delete(l.buckets, id)
		} else if oldest == "" || b.used.Before(l.buckets[oldest].used) {
			oldest = id
		}
	}
	if len(l.buckets) >= maxLimitedTenants {
		delete(l.buckets, oldest)
	}
}

// rateLimited is the error of an ingest over its tenant's limit: a 429
// whose Retry-After is wait, in whole seconds rounded up.
type rateLimited struct {
	tenant string
	wait   time.Duration
}

func (e *rateLimited) Error() string {
	return fmt.Sprintf("tenant %s is over its ingest rate limit", e.tenant)
}

func (e *rateLimited) Unwrap() error {
	return &statusError{http.StatusTooManyRequests, typeRateLimited,
		fmt.Sprintf("tenant %q sends events faster than this server's limit; nothing was stored. Retry after the seconds in Retry-After.", e.tenant), nil}
}

func (e *rateLimited) retryAfter() string {
	return strconv.FormatInt(max(1, int64(math.Ceil(e.wait.Seconds()))), 10)
}

// limitIngest returns a rateLimited error when tenant is over its limit.
func (s *Server) limitIngest(tenant string) error {
	if s.limiter == nil {
		return nil
	}
	if ok, wait := s.limiter.allow(tenant, s.nowFunc()); !ok {
		return &rateLimited{tenant: tenant, wait: wait}
	}
	return nil
}
