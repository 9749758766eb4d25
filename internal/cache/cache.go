// Package cache is a small bounded in-memory cache with expiry, for the
// per-node caches of the hot paths. Entries are dropped when the store
// reports a change (Delete, Clear), when they expire, or, when the cache is
// full, at random: no entry can outlive its TTL.
package cache

import (
	"sync"
	"time"
)

// Cache maps keys to values. It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	mu    sync.RWMutex
	max   int
	ttl   time.Duration
	items map[K]entry[V]
	gen   uint64 // bumped by Clear, so a racing Put cannot resurrect data
	off   bool   // Bypass: nothing is read or kept
}

type entry[V any] struct {
	v   V
	exp time.Time
}

// New returns a cache of at most max entries living at most ttl.
func New[K comparable, V any](max int, ttl time.Duration) *Cache[K, V] {
	return &Cache[K, V]{max: max, ttl: ttl, items: make(map[K]entry[V], max)}
}

// Get returns a live entry.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.RLock()
	e, ok := c.items[k]
	ok = ok && !c.off
	c.mu.RUnlock()
	if !ok || time.Now().After(e.exp) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Generation returns a token to pass to Put: a value read from the store
// before a Clear is not cached after it.
func (c *Cache[K, V]) Generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// Put stores v if no Clear happened since gen was taken.
func (c *Cache[K, V]) Put(gen uint64, k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.off {
		return
	}
	if len(c.items) >= c.max {
		n := c.max / 10
		for key := range c.items {
			delete(c.items, key)
			if n--; n <= 0 {
				break
			}
		}
	}
	c.items[k] = entry[V]{v: v, exp: time.Now().Add(c.ttl)}
}

// Delete drops one entry. It also bumps the generation, so a value read
// before the change that caused the Delete is not cached after it.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	delete(c.items, k)
	c.gen++
	c.mu.Unlock()
}

// Clear drops everything.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	clear(c.items)
	c.gen++
	c.mu.Unlock()
}

// Bypass drops everything and, while on, keeps nothing: for when the
// changes that would invalidate entries cannot be heard.
func (c *Cache[K, V]) Bypass(on bool) {
	c.mu.Lock()
	clear(c.items)
	c.gen++
	c.off = on
	c.mu.Unlock()
}

// Len is the number of entries.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}
