package cache

import (
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	c := New[string, int](10, time.Hour)
	g := c.Generation()
	c.Put(g, "a", 1)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get = %v, %v", v, ok)
	}
	c.Delete("a")
	if _, ok := c.Get("a"); ok {
		t.Fatal("deleted entry still there")
	}
	// A value read before a change is not cached after it.
	c.Put(g, "a", 1)
	if _, ok := c.Get("a"); ok {
		t.Fatal("stale Put was cached")
	}
	for i := range 100 {
		c.Put(c.Generation(), string(rune('a'+i)), i)
	}
	if c.Len() > 10 {
		t.Fatalf("Len = %d, want at most 10", c.Len())
	}
	short := New[int, int](10, time.Millisecond)
	short.Put(short.Generation(), 1, 1)
	time.Sleep(5 * time.Millisecond)
	if _, ok := short.Get(1); ok {
		t.Fatal("expired entry returned")
	}
}
