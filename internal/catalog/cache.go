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
	gen      uint64 // bumped by Invalidate: a read from before it is not kept
	off      bool   // Bypass
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
