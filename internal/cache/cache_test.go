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

// While bypassed a cache neither answers nor keeps anything, and what it
// held before is gone when it comes back.
func TestBypass(t *testing.T) {
	c := New[string, int](10, time.Hour)
	c.Put(c.Generation(), "a", 1)
	gen := c.Generation()
	c.Bypass(true)
	if _, ok := c.Get("a"); ok {
		t.Fatal("a bypassed cache answered")
	}
	c.Put(c.Generation(), "b", 2)
	c.Put(gen, "c", 3) // read before the bypass
	if c.Len() != 0 {
		t.Fatalf("a bypassed cache kept %d entries", c.Len())
	}
	c.Bypass(false)
	if _, ok := c.Get("a"); ok {
		t.Fatal("an entry from before the bypass came back")
	}
	c.Put(gen, "c", 3)
	if _, ok := c.Get("c"); ok {
		t.Fatal("a value read before the bypass was kept after it")
	}
	c.Put(c.Generation(), "d", 4)
	if v, ok := c.Get("d"); !ok || v != 4 {
		t.Fatalf("after the bypass Get(d) = %v, %v", v, ok)
	}
}
