package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/postgres"
	"github.com/echt-dev/echt/internal/store/storetest"
)

func openURL(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return s
}

// open returns a store on a fresh database; the caller closes it.
func open(t *testing.T) store.Store {
	return openURL(t, storetest.PostgresURL(t))
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func rnd(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func entry(action string) store.AuditEntry {
	return store.AuditEntry{At: time.Now(), Actor: "tok_test", Action: action}
}

// fixture creates product "p", SKU "p-pro" and n keys through s.
func fixture(t *testing.T, s store.Store, n int) (store.SKU, []store.Key) {
	t.Helper()
	c := ctx(t)
	if err := s.CreateProduct(c, store.Product{ID: "p", Name: "P", HardwareSalt: rnd(16), CreatedAt: time.Now()}, entry("product.create")); err != nil {
		t.Fatalf("CreateProduct = %v", err)
	}
	sku, err := s.CreateSKU(c, store.SKU{ID: "p-pro", ProductID: "p", Edition: "Pro", Channel: "retail", CreatedAt: time.Now()}, entry("sku.create"))
	if err != nil {
		t.Fatalf("CreateSKU = %v", err)
	}
	keys := make([]store.Key, n)
	for i := range keys {
		keys[i] = store.Key{Hash: rnd(32), SKUID: sku.ID, LastGroup: "7FQ2K", CreatedAt: time.Now()}
	}
	if err := s.InsertKeys(c, keys, entry("keys.generate")); err != nil {
		t.Fatalf("InsertKeys = %v", err)
	}
	return sku, keys
}

func TestAuditAppendOnly(t *testing.T) {
	url := storetest.PostgresURL(t)
	s := openURL(t, url)
	defer s.Close()
	c := ctx(t)
	if err := s.AppendAudit(c, entry("x")); err != nil {
		t.Fatal(err)
	}
	// Even a connection that bypasses the store cannot change history.
	conn, err := pgx.Connect(c, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(c)
	for _, q := range []string{
		"UPDATE audit_log SET actor = 'b'",
		"DELETE FROM audit_log",
		"DELETE FROM audit_log WHERE false",
		"TRUNCATE audit_log",
		"INSERT INTO audit_log (seq, at, actor, action) OVERRIDING SYSTEM VALUE SELECT seq, at, 'b', 'y' FROM audit_log ON CONFLICT (seq) DO UPDATE SET actor = 'b'",
	} {
		if _, err := conn.Exec(c, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s = %v, want append-only error", q, err)
		}
	}
	if got, err := s.Audit(c, store.AuditQuery{}); err != nil || len(got) != 1 || got[0].Actor != "tok_test" {
		t.Fatalf("Audit = %+v, %v; want the one entry unchanged", got, err)
	}
}

// Two nodes on one database: 200 concurrent activations of a 5-seat key,
// half through each node, activate exactly 5.
func TestSeatLimitAcrossNodes(t *testing.T) {
	url := storetest.PostgresURL(t)
	a, b := openURL(t, url), openURL(t, url)
	defer a.Close()
	defer b.Close()
	c := ctx(t)
	sku, keys := fixture(t, a, 1)
	k := keys[0]
	errRefused := errors.New("refused")
	var ok, full atomic.Int32
	var wg sync.WaitGroup
	for i := range 200 {
		node := a
		if i%2 == 1 {
			node = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("act_%03d", i)
			_, created, err := node.Activate(c, k.Hash, nil, func(key store.Key, cands []store.Activation) (store.Decision, error) {
				if key.ActiveActivations >= 5 || len(cands) >= 5 {
					return store.Decision{}, errRefused
				}
				return store.Decision{New: &store.Activation{ID: id, SKUID: sku.ID, ProductID: sku.ProductID, LastGroup: "7FQ2K", Profile: []byte("{}"), CreatedAt: time.Now()}}, nil
			})
			switch {
			case errors.Is(err, errRefused):
				full.Add(1)
			case err != nil:
				t.Errorf("Activate = %v", err)
			case created:
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5 || full.Load() != 195 {
		t.Fatalf("%d activated, %d refused; want 5, 195", ok.Load(), full.Load())
	}
	for _, s := range []*postgres.Store{a, b} {
		key, err := s.Key(c, k.Hash)
		list, err2 := s.ActivationsByKey(c, k.Hash)
		if err != nil || err2 != nil || key.ActiveActivations != 5 || len(list) != 5 {
			t.Fatalf("stored %d activations, counter %d (%v, %v); want 5", len(list), key.ActiveActivations, err, err2)
		}
	}
}

// Two nodes activating many keys in opposite orders, and blocking them, at
// once: batches lock keys in key order, and whatever deadlocks remain are
// retried, so every call succeeds.
func TestManyKeysAcrossNodes(t *testing.T) {
	url := storetest.PostgresURL(t)
	a, b := openURL(t, url), openURL(t, url)
	defer a.Close()
	defer b.Close()
	c := ctx(t)
	sku, keys := fixture(t, a, 20)
	var wg sync.WaitGroup
	for n, node := range []*postgres.Store{a, b} {
		for g := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range keys {
					j := i
					if (n+g)%2 == 1 {
						j = len(keys) - 1 - i
					}
					id := fmt.Sprintf("act_%d_%d_%d", n, g, j)
					if _, _, err := node.Activate(c, keys[j].Hash, nil, func(store.Key, []store.Activation) (store.Decision, error) {
						return store.Decision{New: &store.Activation{ID: id, SKUID: sku.ID, ProductID: sku.ProductID, LastGroup: "7FQ2K", CreatedAt: time.Now()}}, nil
					}); err != nil {
						t.Errorf("Activate = %v", err)
						return
					}
					if g == 0 {
						if _, err := node.SetKeyBlocked(c, keys[j].Hash, false, "", time.Now(), entry("key.unblock")); err != nil {
							t.Errorf("SetKeyBlocked = %v", err)
							return
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, k := range keys {
		key, err := a.Key(c, k.Hash)
		if err != nil || key.ActiveActivations != 20 || key.Activations != 20 {
			t.Fatalf("Key = %+v, %v; want 20 activations", key, err)
		}
	}
}

// watch runs s.Watch until the test ends and returns the changes it sees.
func watch(t *testing.T, s store.Store) <-chan store.Change {
	c, cancel := context.WithCancel(context.Background())
	got := make(chan store.Change, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Watch(c, func(ch store.Change) { got <- ch })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return got
}

// waitListening makes changes through s until w reports one, so that w is
// known to listen.
func waitListening(t *testing.T, s store.Store, w <-chan store.Change) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if err := s.CreateProduct(ctx(t), store.Product{ID: fmt.Sprintf("warmup-%d", i), Name: "w", HardwareSalt: rnd(4), CreatedAt: time.Now()}, entry("product.create")); err != nil {
			t.Fatal(err)
		}
	wait:
		for {
			select {
			case ch := <-w:
				if ch.Kind != store.ChangeProduct {
					continue // watch_down, watch_up
				}
				for len(w) > 0 {
					<-w
				}
				return
			case <-time.After(100 * time.Millisecond):
				break wait
			}
		}
	}
	t.Fatal("Watch saw nothing within 10s")
}

// expect waits up to d for a change matching want.
func expect(t *testing.T, w <-chan store.Change, want store.Change, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ch := <-w:
			if ch == want {
				return
			}
		case <-timeout:
			t.Fatalf("Watch did not report %+v within %v", want, d)
		}
	}
}

func TestWatchAcrossNodes(t *testing.T) {
	url := storetest.PostgresURL(t)
	a, b := openURL(t, url), openURL(t, url)
	defer a.Close()
	defer b.Close()
	_, keys := fixture(t, a, 1)
	w := watch(t, b)
	waitListening(t, a, w)

	if _, err := a.SetKeyBlocked(ctx(t), keys[0].Hash, true, "leaked", time.Now(), entry("key.block")); err != nil {
		t.Fatal(err)
	}
	expect(t, w, store.Change{Kind: store.ChangeKey, ID: hex.EncodeToString(keys[0].Hash)}, time.Second)
}

// A failed write publishes nothing.
func TestWatchOnlyCommitted(t *testing.T) {
	s := openURL(t, storetest.PostgresURL(t))
	defer s.Close()
	fixture(t, s, 0)
	w := watch(t, s)
	waitListening(t, s, w)
	c := ctx(t)
	if err := s.CreateProduct(c, store.Product{ID: "p", Name: "dup", HardwareSalt: rnd(4)}, entry("product.create")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateProduct(dup) = %v, want ErrExists", err)
	}
	if err := s.CreateProduct(c, store.Product{ID: "q", Name: "Q", HardwareSalt: rnd(4)}, entry("product.create")); err != nil {
		t.Fatal(err)
	}
	select {
	case ch := <-w:
		if ch != (store.Change{Kind: store.ChangeProduct, ID: "q"}) {
			t.Fatalf("first change = %+v, want product q (the failed write must not notify)", ch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change within 5s")
	}
}

// terminate kills every other session on the database at url, as a server
// restart would.
func terminate(t *testing.T, url string) {
	t.Helper()
	conn, err := pgx.Connect(ctx(t), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx(t))
	if _, err := conn.Exec(ctx(t), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
}

// After its connections are killed, the store reports ErrUnavailable or
// recovers right away, and Watch reconnects and says "all".
func TestReconnect(t *testing.T) {
	url := storetest.PostgresURL(t)
	s := openURL(t, url)
	defer s.Close()
	_, keys := fixture(t, s, 1)
	w := watch(t, s)
	waitListening(t, s, w)

	terminate(t, url)
	// Watch says at once that it cannot hear changes (caches off), then,
	// once it listens again, "all" (drop every cache) and that it hears
	// them again, in that order.
	var got []string
	for timeout := time.After(10 * time.Second); len(got) == 0 || got[len(got)-1] != store.ChangeWatchUp; {
		select {
		case ch := <-w:
			got = append(got, ch.Kind)
		case <-timeout:
			t.Fatalf("Watch reported %v within 10s; want watch_down, all, watch_up", got)
		}
	}
	if !slices.Equal(got, []string{store.ChangeWatchDown, store.ChangeAll, store.ChangeWatchUp}) {
		t.Fatalf("Watch reported %v after its connection was killed; want watch_down, all, watch_up", got)
	}
	c := ctx(t)
	if _, err := s.SetKeyBlocked(c, keys[0].Hash, true, "x", time.Now(), entry("key.block")); err != nil {
		t.Fatalf("SetKeyBlocked after terminate = %v", err)
	}
	expect(t, w, store.Change{Kind: store.ChangeKey, ID: hex.EncodeToString(keys[0].Hash)}, 10*time.Second)

	terminate(t, url)
	for i := 0; ; i++ {
		_, err := s.Key(c, keys[0].Hash)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrUnavailable) || i == 20 {
			t.Fatalf("Key after terminate = %v, want success or ErrUnavailable", err)
		}
	}
	if err := s.Ping(c); err != nil {
		t.Fatalf("Ping = %v", err)
	}
	expect(t, w, store.Change{Kind: store.ChangeAll}, 10*time.Second)
}

func TestUnavailable(t *testing.T) {
	const url = "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2"
	if _, err := postgres.Open(context.Background(), postgres.Config{URL: url}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open(closed port) = %v, want ErrUnavailable", err)
	}
}

func TestPingUnavailableAndClosed(t *testing.T) {
	url := storetest.PostgresURL(t)
	s := openURL(t, url)
	c := ctx(t)
	if err := s.Ping(c); err != nil {
		t.Fatalf("Ping = %v", err)
	}
	// A deadline that has passed: the server cannot answer in time.
	expired, cancel := context.WithDeadline(c, time.Now().Add(-time.Second))
	defer cancel()
	if err := s.Ping(expired); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping(expired) = %v, want ErrUnavailable", err)
	}
	s.Close()
	if err := s.Ping(c); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Ping(closed) = %v, want ErrClosed", err)
	}
	if err := s.AppendAudit(c, entry("x")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("AppendAudit(closed) = %v, want ErrClosed", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  postgres.Config
		ok   bool
	}{
		{"defaults", postgres.Config{URL: "postgres://u@h/db"}, true},
		{"libpq string", postgres.Config{URL: "host=h user=u dbname=db"}, true},
		{"no url", postgres.Config{}, false},
		{"bad url", postgres.Config{URL: "postgres://u@h:notaport/db"}, false},
		{"negative", postgres.Config{URL: "postgres://u@h/db", MaxBatch: -1}, false},
		{"writers use every connection", postgres.Config{URL: "postgres://u@h/db", MaxConns: 4, Writers: 4}, false},
		{"writers below pool", postgres.Config{URL: "postgres://u@h/db", MaxConns: 4, Writers: 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v, want ok %v", tt.cfg, err, tt.ok)
			}
		})
	}
}

// Nodes starting together migrate one after the other.
func TestConcurrentOpen(t *testing.T) {
	url := storetest.PostgresURL(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(ctx(t), postgres.Config{URL: url})
			if err != nil {
				t.Errorf("Open = %v", err)
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
}

// While one node sweeps expired activations (holds the sweep lock), the
// others skip; once it is done, they sweep.
func TestExpireActivationsLock(t *testing.T) {
	url := storetest.PostgresURL(t)
	s := openURL(t, url)
	defer s.Close()
	c := ctx(t)
	sku, keys := fixture(t, s, 1)
	past := time.Now().Add(-time.Hour)
	for i := range 3 {
		id := fmt.Sprintf("act_%d", i)
		if _, _, err := s.Activate(c, keys[0].Hash, nil, func(store.Key, []store.Activation) (store.Decision, error) {
			return store.Decision{New: &store.Activation{ID: id, SKUID: sku.ID, ProductID: sku.ProductID, LastGroup: "7FQ2K", CreatedAt: past.Add(-time.Hour), NotAfter: past}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	tx := otherTx(c, t, url)
	const lockSweep = 0x65636874_00000005 // as in postgres.go
	var got bool
	if err := tx.QueryRow(c, `SELECT pg_try_advisory_xact_lock($1)`, int64(lockSweep)).Scan(&got); err != nil || !got {
		t.Fatalf("take the sweep lock = %v, %v", got, err)
	}
	start := time.Now()
	if n, err := s.ExpireActivations(c, time.Now(), 10); err != nil || n != 0 {
		t.Fatalf("ExpireActivations while another node sweeps = %d, %v; want 0, nil", n, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ExpireActivations waited %v for the lock; want it to skip at once", d)
	}
	if err := tx.Rollback(c); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpireActivations(c, time.Now(), 10); err != nil || n != 3 {
		t.Fatalf("ExpireActivations after the lock is free = %d, %v; want 3", n, err)
	}
	if k, err := s.Key(c, keys[0].Hash); err != nil || k.ActiveActivations != 0 {
		t.Fatalf("Key after sweep = %+v, %v; want no active activations", k, err)
	}
}

// While the database refuses connections (its sessions killed, new ones
// refused, as during a restart or failover), reads, writes and Ping fail
// with ErrUnavailable; when it takes connections again, the store works
// again by itself.
func TestDatabaseRefusesConnections(t *testing.T) {
	url := storetest.PostgresURL(t)
	s := openURL(t, url)
	defer s.Close()
	c := ctx(t)
	_, keys := fixture(t, s, 1)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	db := cfg.Database
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(c)
	allow := func(ok bool) {
		t.Helper()
		if _, err := admin.Exec(c, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", db, ok)); err != nil {
			t.Fatal(err)
		}
	}
	allow(false)
	defer allow(true)
	if _, err := admin.Exec(c, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, db); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
	}{
		{"Ping", func() error { return s.Ping(c) }},
		{"Key", func() error { _, err := s.Key(c, keys[0].Hash); return err }},
		{"Activation", func() error { _, err := s.Activation(c, "act_x"); return err }},
		{"SetKeyBlocked", func() error {
			_, err := s.SetKeyBlocked(c, keys[0].Hash, true, "x", time.Now(), entry("key.block"))
			return err
		}},
		{"AppendAudit", func() error { return s.AppendAudit(c, entry("x")) }},
		{"ExpireActivations", func() error { _, err := s.ExpireActivations(c, time.Now(), 10); return err }},
	}
	for _, tt := range tests {
		// Several times: the first call may meet a killed pooled
		// connection, later ones try to connect anew.
		for i := range 3 {
			if err := tt.do(); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s (call %d) while the database refuses connections = %v, want ErrUnavailable", tt.name, i+1, err)
			}
		}
	}
	allow(true)
	for _, tt := range tests {
		if err := tt.do(); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after the database is back = %v", tt.name, err)
		}
	}
}

// A write stuck behind a lock gives up when its request's time runs out
// (ErrUnavailable, soon after the deadline, not the store's own 30 s), and
// commits nothing afterwards; a database-side time limit (lock_timeout,
// statement_timeout) is ErrUnavailable too, not an internal error.
func TestWriteGivesUpWithItsRequest(t *testing.T) {
	url := storetest.PostgresURL(t)
	s := openURL(t, url)
	defer s.Close()
	c := ctx(t)
	sku, keys := fixture(t, s, 1)
	activate := func(ctx context.Context, st *postgres.Store, id string) error {
		_, _, err := st.Activate(ctx, keys[0].Hash, nil, func(store.Key, []store.Activation) (store.Decision, error) {
			return store.Decision{New: &store.Activation{ID: id, SKUID: sku.ID, ProductID: sku.ProductID, LastGroup: "7FQ2K", CreatedAt: time.Now()}}, nil
		})
		return err
	}
	tx := otherTx(c, t, url)
	if _, err := tx.Exec(c, "LOCK TABLE product_keys IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(c, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := activate(short, s, "act_late"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("activation behind a lock with a 0.5 s deadline = %v; want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the activation gave up after %v; want soon after its 0.5 s deadline", d)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	limited := openURL(t, url+sep+"lock_timeout=300")
	defer limited.Close()
	if err := activate(c, limited, "act_lock_timeout"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("activation with lock_timeout behind a lock = %v; want ErrUnavailable", err)
	}
	if err := tx.Rollback(c); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if k, err := s.Key(c, keys[0].Hash); err != nil || k.ActiveActivations != 0 {
		t.Fatalf("after the refusals the key = %+v, %v; want no activation committed", k, err)
	}
	if err := activate(c, s, "act_now"); err != nil {
		t.Fatalf("activation after the lock is gone: %v", err)
	}
}

// otherTx begins a transaction on a connection of its own to url, as
// another node or a person at psql would; the connection closes with the
// test.
func otherTx(c context.Context, t *testing.T, url string) pgx.Tx {
	t.Helper()
	other, err := pgx.Connect(c, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close(context.Background()) })
	tx, err := other.Begin(c)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}
