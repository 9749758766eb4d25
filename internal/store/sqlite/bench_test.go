package sqlite_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/sqlite"
)

func rnd(n int) []byte { b := make([]byte, n); rand.Read(b); return b }

// BenchmarkActivate measures concurrent activations through the group
// commit: b.N activations from 128 goroutines over 100 keys.
func BenchmarkActivate(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(b.TempDir(), "echt.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	s.CreateProduct(ctx, store.Product{ID: "p", Name: "p", HardwareSalt: rnd(16), CreatedAt: now}, store.AuditEntry{})
	s.CreateSKU(ctx, store.SKU{ID: "s", ProductID: "p", Edition: "e", Channel: "volume-mak", CreatedAt: now}, store.AuditEntry{})
	var keys []store.Key
	for range 100 {
		keys = append(keys, store.Key{Hash: rnd(32), SKUID: "s", LastGroup: "BCDFG", CreatedAt: now})
	}
	s.InsertKeys(ctx, keys, store.AuditEntry{})
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				var anchors [][]byte
				for range 3 {
					anchors = append(anchors, rnd(17))
				}
				_, _, err := s.Activate(ctx, keys[i%100].Hash, anchors, func(k store.Key, c []store.Activation) (store.Decision, error) {
					return store.Decision{New: &store.Activation{ID: fmt.Sprintf("act_%020d", i), SKUID: "s", ProductID: "p", LastGroup: "BCDFG", Profile: rnd(300), Anchors: anchors, CreatedAt: now}}, nil
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
