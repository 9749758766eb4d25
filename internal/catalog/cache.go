package catalog

import (
	"context"
	"errors"
	"sync"

	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/problem"
)

// CacheStore is what Cache reads.
type CacheStore interface {
	Product(ctx context.Context, id string) (store.Product, error)
	SKU(ctx context.Context, id string) (store.SKU, error)
	SKUByGroup(ctx context.Context, group uint16) (store.SKU, error)
	SKUs(ctx context.Context) ([]store.SKU, error)
}

// Cache keeps products and SKUs in memory for the hot paths. Products and
// SKUs are small and rarely change; Invalidate drops everything (call it
// when the store reports a product or SKU change).
type Cache struct {
	st       CacheStore
	mu       sync.RWMutex
	products map[string]store.Product
	skus     map[string]store.SKU
	groups   map[uint16]store.SKU
	grace    map[string]graceDays // by product
	all      map[string]store.SKU // every SKU, by id (AllSKUs); never changed once made
	gen      uint64               // bumped by Invalidate: a read from before it is not kept
	off      bool                 // Bypass
}

// NewCache returns an empty cache over st.
func NewCache(st CacheStore) *Cache {
	c := &Cache{st: st}
	c.Invalidate()
	return c
}

// Invalidate drops every cached entry.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	c.reset()
	c.mu.Unlock()
}

// Bypass drops every entry and, while on, keeps none: for when changes
// cannot be heard.
func (c *Cache) Bypass(on bool) {
	c.mu.Lock()
	c.reset()
	c.off = on
	c.mu.Unlock()
}

func (c *Cache) reset() {
	c.products = map[string]store.Product{}
	c.skus = map[string]store.SKU{}
	c.groups = map[uint16]store.SKU{}
	c.grace = map[string]graceDays{}
	c.all = nil
	c.gen++
}

// generation is the token a reader takes before it reads the store.
func (c *Cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// Product returns a product, PRODUCT_NOT_FOUND if there is none.
func (c *Cache) Product(ctx context.Context, id string) (store.Product, error) {
	c.mu.RLock()
	p, ok := c.products[id]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	gen := c.generation()
	p, err := c.st.Product(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return p, problem.Newf(problem.ProductNotFound, "no product %q", id)
	}
	if err != nil {
		return p, err
	}
	c.mu.Lock()
	if gen == c.gen && !c.off && len(c.products) < 10000 {
		c.products[id] = p
	}
	c.mu.Unlock()
	return p, nil
}

type graceDays struct {
	days int
	ok   bool
}

// GraceDays returns the grace period a copy of a product gets before it is
// activated: the longest of its SKUs' grace days, since a copy does not
// know which SKU it will be activated with; ok is false when the product
// has no SKU yet.
func (c *Cache) GraceDays(ctx context.Context, product string) (days int, ok bool, err error) {
	c.mu.RLock()
	g, hit := c.grace[product]
	c.mu.RUnlock()
	if hit {
		return g.days, g.ok, nil
	}
	gen := c.generation()
	skus, err := c.st.SKUs(ctx)
	if err != nil {
		return 0, false, err
	}
	for _, k := range skus {
		if k.ProductID == product && (!g.ok || k.Policy.GraceDays > g.days) {
			g = graceDays{days: k.Policy.GraceDays, ok: true}
		}
	}
	c.mu.Lock()
	if gen == c.gen && !c.off && len(c.grace) < 10000 {
		c.grace[product] = g
	}
	c.mu.Unlock()
	return g.days, g.ok, nil
}

// SKU returns a SKU, SKU_NOT_FOUND if there is none.
func (c *Cache) SKU(ctx context.Context, id string) (store.SKU, error) {
	c.mu.RLock()
	k, ok := c.skus[id]
	c.mu.RUnlock()
	if ok {
		return k, nil
	}
	gen := c.generation()
	k, err := c.st.SKU(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return k, problem.Newf(problem.SKUNotFound, "no SKU %q", id)
	}
	if err != nil {
		return k, err
	}
	c.put(gen, k)
	return k, nil
}

// SKUByGroup returns the SKU of a key group, SKU_NOT_FOUND if none.
func (c *Cache) SKUByGroup(ctx context.Context, group uint16) (store.SKU, error) {
	c.mu.RLock()
	k, ok := c.groups[group]
	c.mu.RUnlock()
	if ok {
		return k, nil
	}
	gen := c.generation()
	k, err := c.st.SKUByGroup(ctx, group)
	if errors.Is(err, store.ErrNotFound) {
		return k, problem.Newf(problem.SKUNotFound, "no SKU for key group %d", group)
	}
	if err != nil {
		return k, err
	}
	c.put(gen, k)
	return k, nil
}

// put keeps a SKU read at generation gen, unless the cache was emptied
// since.
func (c *Cache) put(gen uint64, k store.SKU) {
	c.mu.Lock()
	if gen == c.gen && !c.off && len(c.skus) < 100000 {
		c.skus[k.ID] = k
		c.groups[k.Group] = k
	}
	c.mu.Unlock()
}

// AllSKUs returns every SKU by id, read once per generation (the map is
// shared: do not change it). While the cache is bypassed it reads them each
// time.
func (c *Cache) AllSKUs(ctx context.Context) (map[string]store.SKU, error) {
	c.mu.RLock()
	all := c.all
	c.mu.RUnlock()
	if all != nil {
		return all, nil
	}
	gen := c.generation()
	list, err := c.st.SKUs(ctx)
	if err != nil {
		return nil, err
	}
	all = make(map[string]store.SKU, len(list))
	for _, k := range list {
		all[k.ID] = k
	}
	c.mu.Lock()
	if gen == c.gen && !c.off {
		c.all = all
	}
	c.mu.Unlock()
	return all, nil
}
