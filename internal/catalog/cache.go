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
	c.products = map[string]store.Product{}
	c.skus = map[string]store.SKU{}
	c.groups = map[uint16]store.SKU{}
	c.mu.Unlock()
}

// Product returns a product, PRODUCT_NOT_FOUND if there is none.
func (c *Cache) Product(ctx context.Context, id string) (store.Product, error) {
	c.mu.RLock()
	p, ok := c.products[id]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	p, err := c.st.Product(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return p, problem.Newf(problem.ProductNotFound, "no product %q", id)
	}
	if err != nil {
		return p, err
	}
	c.mu.Lock()
	if len(c.products) < 10000 {
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
	k, err := c.st.SKU(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return k, problem.Newf(problem.SKUNotFound, "no SKU %q", id)
	}
	if err != nil {
		return k, err
	}
	c.put(k)
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
	k, err := c.st.SKUByGroup(ctx, group)
	if errors.Is(err, store.ErrNotFound) {
		return k, problem.Newf(problem.SKUNotFound, "no SKU for key group %d", group)
	}
	if err != nil {
		return k, err
	}
	c.put(k)
	return k, nil
}

func (c *Cache) put(k store.SKU) {
	c.mu.Lock()
	if len(c.skus) < 100000 {
		c.skus[k.ID] = k
		c.groups[k.Group] = k
	}
	c.mu.Unlock()
}
