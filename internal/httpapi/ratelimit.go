package httpapi

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limitClass groups endpoints that share a per-address budget.
type limitClass int

const (
	limitClient limitClass = iota // activation, validation, signing keys, help pages
	limitCheck                    // the public key check and reports: enumeration targets
	limitToken                    // look-ups of tokens not seen valid lately (made-up ones cost a database read)
	numClasses
)

// RateLimit is a token bucket: Rate events per second, up to Burst at once.
// A zero Rate disables the limit.
type RateLimit struct {
	Rate  float64
	Burst int
}

// limiter keeps one bucket per class and client address, bounded in
// memory: idle buckets are dropped, and at most maxEntries are kept.
type limiter struct {
	mu      sync.Mutex
	limits  [numClasses]RateLimit
	buckets map[bucketKey]*bucket
	lastGC  time.Time
}

type bucketKey struct {
	c    limitClass
	addr netip.Addr
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

const maxEntries = 100_000

func newLimiter(client, check RateLimit) *limiter {
	token := RateLimit{Rate: 20, Burst: 200}
	if client.Rate <= 0 {
		token = RateLimit{}
	}
	return &limiter{limits: [numClasses]RateLimit{client, check, token}, buckets: map[bucketKey]*bucket{}}
}

// allowed is allow without the wait.
func (l *limiter) allowed(c limitClass, addr netip.Addr) bool {
	_, ok := l.allow(c, addr)
	return ok
}

// allow reports whether a request may go ahead, and if not, how long to wait.
func (l *limiter) allow(c limitClass, addr netip.Addr) (time.Duration, bool) {
	lim := l.limits[c]
	if lim.Rate <= 0 {
		return 0, true
	}
	// IPv6 clients are limited per /64, the smallest block a user gets.
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		addr = p.Addr()
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastGC) > time.Minute || len(l.buckets) >= maxEntries {
		l.gc(now)
	}
	k := bucketKey{c, addr}
	b := l.buckets[k]
	if b == nil {
		burst := lim.Burst
		if burst < 1 {
			burst = 1
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(lim.Rate), burst)}
		l.buckets[k] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

func (l *limiter) gc(now time.Time) {
	l.lastGC = now
	for k, b := range l.buckets {
		// a bucket idle long enough to be full again carries no state
		if now.Sub(b.seen) > 10*time.Minute || (len(l.buckets) >= maxEntries && now.Sub(b.seen) > time.Second) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxEntries {
		clear(l.buckets)
	}
}
