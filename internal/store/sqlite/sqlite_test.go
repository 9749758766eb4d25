package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/sqlite"
	"github.com/echt-dev/echt/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "echt.db")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func TestAuditAppendOnly(t *testing.T) {
	s := open(t).(*sqlite.Store)
	defer s.Close()
	ctx := context.Background()
	if err := s.AppendAudit(ctx, store.AuditEntry{At: time.Now(), Actor: "a", Action: "x"}); err != nil {
		t.Fatal(err)
	}
	// Even a writable connection cannot change history.
	db, err := sqlOpenWritable(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"UPDATE audit_log SET actor = 'b'",
		"DELETE FROM audit_log",
		"REPLACE INTO audit_log (seq, at, actor, action) VALUES (1, 0, 'b', 'y')",
		"INSERT OR REPLACE INTO audit_log (seq, at, actor, action) VALUES (1, 0, 'b', 'y')",
		"INSERT INTO audit_log (seq, at, actor, action) VALUES (1, 0, 'b', 'y') ON CONFLICT (seq) DO UPDATE SET actor = 'b'",
	} {
		if _, err := db.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s = %v, want append-only error", q, err)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "echt.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateProduct(ctx, store.Product{ID: "p", Name: "P", HardwareSalt: []byte("salt"), CreatedAt: time.Now()}, store.AuditEntry{Actor: "t", Action: "product.create"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Product(ctx, "p"); err != nil {
		t.Fatalf("Product after reopen = %v", err)
	}
}

// A backup taken while writes go on is a consistent, intact database with
// everything committed before it began.
func TestBackup(t *testing.T) {
	s := open(t).(*sqlite.Store)
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateProduct(ctx, store.Product{ID: "p", Name: "P", HardwareSalt: []byte("salt"), CreatedAt: time.Now()}, store.AuditEntry{Actor: "t", Action: "product.create"}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.AppendAudit(ctx, store.AuditEntry{Actor: "t", Action: "write"}); err != nil {
				t.Errorf("write during backup: %v", err)
				return
			}
			n++
		}
	}()
	dst := filepath.Join(t.TempDir(), "backup.db")
	err := s.Backup(ctx, dst)
	close(stop)
	writes := <-done
	if err != nil {
		t.Fatalf("Backup = %v", err)
	}
	if err := s.Backup(ctx, dst); err == nil {
		t.Errorf("Backup onto an existing database = nil error, want one")
	}
	b, err := sqlite.Open(ctx, sqlite.Config{Path: dst})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var check string
	if err := b.DB().QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	if p, err := b.Product(ctx, "p"); err != nil || p.Name != "P" {
		t.Fatalf("Product in backup = %+v, %v", p, err)
	}
	t.Logf("backup taken while %d writes went on", writes)
}

// Two stores writing one file (two servers on one data directory, which
// its lock should prevent) still keep a key's seat limit: each writer
// decides on the key as the file holds it, not as it last wrote it.
func TestTwoWritersOneFileKeepTheSeatLimit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "echt.db")
	var stores [2]*sqlite.Store
	for i := range stores {
		s, err := sqlite.Open(ctx, sqlite.Config{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := store.AuditEntry{At: now, Actor: "t", Action: "setup"}
	if err := stores[0].CreateProduct(ctx, store.Product{ID: "p", Name: "P", HardwareSalt: []byte("0123456789abcdef"), CreatedAt: now}, a); err != nil {
		t.Fatal(err)
	}
	sku, err := stores[0].CreateSKU(ctx, store.SKU{ID: "p-pro", ProductID: "p", Edition: "Pro", Channel: "retail", Policy: store.Policy{MaxDevices: 2, Tolerance: 4}, CreatedAt: now}, a)
	if err != nil {
		t.Fatal(err)
	}
	hash := []byte(strings.Repeat("k", 32))
	if err := stores[0].InsertKeys(ctx, []store.Key{{Hash: hash, SKUID: sku.ID, LastGroup: "7FQ2K", CreatedAt: now}}, a); err != nil {
		t.Fatal(err)
	}
	made := 0
	for i := range 5 {
		id := "act_" + string(rune('a'+i))
		_, _, err := stores[i%2].Activate(ctx, hash, [][]byte{[]byte(id)}, func(k store.Key, _ []store.Activation) (store.Decision, error) {
			if k.ActiveActivations >= sku.Policy.MaxDevices {
				return store.Decision{}, errFull
			}
			return store.Decision{New: &store.Activation{ID: id, SKUID: sku.ID, ProductID: "p", LastGroup: "7FQ2K", Profile: []byte(`{}`), CreatedAt: now, Anchors: [][]byte{[]byte(id)}}}, nil
		})
		if err == nil {
			made++
		}
	}
	k, err := stores[0].Key(ctx, hash)
	if err != nil || made != 2 || k.ActiveActivations != 2 {
		t.Fatalf("2-seat key written by two stores: %d activations made, counter %d (%v); want 2, 2", made, k.ActiveActivations, err)
	}
}

var errFull = errors.New("no seat left")
