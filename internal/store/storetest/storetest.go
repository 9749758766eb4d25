// Package storetest is the conformance suite every store.Store runs, and
// helpers that make fresh databases for tests.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/store"
)

// Opener returns a fresh, empty store for one subtest. The store is closed
// by the suite.
type Opener func(t *testing.T) store.Store

// Run runs the conformance suite against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Bootstrap", testBootstrap},
		{"BootstrapRace", testBootstrapRace},
		{"Secrets", testSecrets},
		{"SigningKeys", testSigningKeys},
		{"Tokens", testTokens},
		{"LastAdminToken", testLastAdminToken},
		{"Catalog", testCatalog},
		{"SKUGroupsUnique", testSKUGroupsUnique},
		{"Serials", testSerials},
		{"Keys", testKeys},
		{"Audit", testAudit},
		{"Activate", testActivate},
		{"ActivateDecisionError", testActivateDecisionError},
		{"ActivateSeatLimitConcurrent", testSeatLimitConcurrent},
		{"ActivateManyKeysConcurrent", testManyKeysConcurrent},
		{"ActivateRelease", testActivateRelease},
		{"ActivateTakenID", testActivateTakenID},
		{"EndActivation", testEndActivation},
		{"ActivateSeesEveryKeyChange", testActivateSeesEveryKeyChange},
		{"ExpireActivations", testExpireActivations},
		{"ExpireActivationsConcurrent", testExpireActivationsConcurrent},
		{"Anchors", testAnchors},
		{"CandidatesAcrossKeys", testCandidatesAcrossKeys},
		{"Feedback", testFeedback},
		{"KeyNotAfter", testKeyNotAfter},
		{"Watch", testWatch},
		{"TimePrecision", testTimePrecision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func rnd(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func entry(action, target string) store.AuditEntry {
	return store.AuditEntry{At: now(), Actor: "tok_test", Action: action, Target: target, Detail: `{"x":1}`, RequestID: "req-1"}
}

// Fixture creates a product "p" and a SKU "p-pro" and returns the SKU.
func fixture(t *testing.T, s store.Store) store.SKU {
	t.Helper()
	c := ctx(t)
	if err := s.CreateProduct(c, store.Product{ID: "p", Name: "Product", HardwareSalt: rnd(16), CreatedAt: now()}, entry("product.create", "p")); err != nil {
		t.Fatalf("CreateProduct = %v", err)
	}
	sku, err := s.CreateSKU(c, store.SKU{ID: "p-pro", ProductID: "p", Edition: "Pro", Channel: "retail", Policy: store.Policy{MaxDevices: 5, Tolerance: 4}, Entitlements: []string{"pro"}, CreatedAt: now()}, entry("sku.create", "p-pro"))
	if err != nil {
		t.Fatalf("CreateSKU = %v", err)
	}
	return sku
}

func newKey(t *testing.T, s store.Store, sku store.SKU) store.Key {
	t.Helper()
	k := store.Key{Hash: rnd(32), SKUID: sku.ID, LastGroup: "7FQ2K", CreatedAt: now()}
	if err := s.InsertKeys(ctx(t), []store.Key{k}, entry("keys.generate", sku.ID)); err != nil {
		t.Fatalf("InsertKeys = %v", err)
	}
	return k
}

func testBootstrap(t *testing.T, s store.Store) {
	c := ctx(t)
	b := store.Bootstrap{
		Secrets:     map[string][]byte{"key-secret": []byte("sealed-1")},
		SigningKeys: []store.SigningKey{{ID: "root-1", Role: store.RoleRoot, PublicKey: rnd(32), PrivateKey: rnd(60), CreatedAt: now()}},
		Token:       store.Token{ID: "tok_admin", Hash: rnd(32), Role: "admin", CreatedAt: now()},
		Audit:       entry("bootstrap", ""),
	}
	ok, err := s.Bootstrap(c, b)
	if err != nil || !ok {
		t.Fatalf("Bootstrap(empty) = %v, %v; want true, nil", ok, err)
	}
	b.Secrets["key-secret"] = []byte("sealed-2")
	ok, err = s.Bootstrap(c, b)
	if err != nil || ok {
		t.Fatalf("Bootstrap(again) = %v, %v; want false, nil", ok, err)
	}
	v, err := s.Secret(c, "key-secret")
	if err != nil || string(v) != "sealed-1" {
		t.Fatalf("Secret = %q, %v; want the first bootstrap's", v, err)
	}
	tok, err := s.Token(c, "tok_admin")
	if err != nil || tok.Role != "admin" {
		t.Fatalf("Token = %+v, %v", tok, err)
	}
	keys, err := s.SigningKeys(c)
	if err != nil || len(keys) != 1 || keys[0].Role != store.RoleRoot {
		t.Fatalf("SigningKeys = %+v, %v", keys, err)
	}
	au, err := s.Audit(c, store.AuditQuery{})
	if err != nil || len(au) != 1 || au[0].Action != "bootstrap" {
		t.Fatalf("Audit = %+v, %v; want one bootstrap entry", au, err)
	}
}

func testBootstrapRace(t *testing.T, s store.Store) {
	c := ctx(t)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.Bootstrap(c, store.Bootstrap{Secrets: map[string][]byte{"s": {byte(i)}}, Audit: entry("bootstrap", "")})
			if err != nil {
				t.Errorf("Bootstrap = %v", err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent bootstraps won, want exactly 1", wins.Load())
	}
}

func testSecrets(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, err := s.Secret(c, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Secret(missing) = %v, want ErrNotFound", err)
	}
	if err := s.PutSecret(c, "a", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSecret(c, "a", []byte{3}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutSecret(existing) = %v, want ErrExists", err)
	}
	if v, err := s.Secret(c, "a"); err != nil || !bytes.Equal(v, []byte{1, 2}) {
		t.Fatalf("Secret = %v, %v", v, err)
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	t0 := now()
	first := store.SigningKey{ID: "sig-1", Role: store.RoleSigning, PublicKey: rnd(32), PrivateKey: rnd(60), Certificate: rnd(100), CreatedAt: t0}
	if _, err := s.Bootstrap(c, store.Bootstrap{SigningKeys: []store.SigningKey{first}, Audit: entry("bootstrap", "")}); err != nil {
		t.Fatal(err)
	}
	second := store.SigningKey{ID: "sig-2", Role: store.RoleSigning, PublicKey: rnd(32), PrivateKey: rnd(60), Certificate: rnd(100), CreatedAt: t0.Add(time.Second)}
	if err := s.RotateSigningKey(c, second, entry("keyring.rotate", "sig-2")); err != nil {
		t.Fatalf("RotateSigningKey = %v", err)
	}
	keys, err := s.SigningKeys(c)
	if err != nil || len(keys) != 2 {
		t.Fatalf("SigningKeys = %v, %v", keys, err)
	}
	if keys[0].ID != "sig-1" || keys[0].RetiredAt.IsZero() {
		t.Errorf("old key = %+v, want retired", keys[0])
	}
	if keys[1].ID != "sig-2" || !keys[1].RetiredAt.IsZero() || !bytes.Equal(keys[1].Certificate, second.Certificate) || !bytes.Equal(keys[1].PrivateKey, second.PrivateKey) {
		t.Errorf("new key = %+v, want active and intact", keys[1])
	}
}

// testLastAdminToken: the last valid admin token cannot be revoked, and
// admin tokens revoked at the same moment leave one.
func testLastAdminToken(t *testing.T, s store.Store) {
	c := ctx(t)
	prev := ""
	for round := range 5 {
		ids := make([]string, 3)
		for i := range ids {
			ids[i] = fmt.Sprintf("tok_admin_%d_%d", round, i)
			if err := s.CreateToken(c, store.Token{ID: ids[i], Hash: rnd(32), Role: "admin", CreatedAt: now()}, entry("token.create", ids[i])); err != nil {
				t.Fatal(err)
			}
		}
		// The round before kept one: with three more, it may go.
		if prev != "" {
			if _, err := s.RevokeToken(c, prev, now(), entry("token.revoke", prev)); err != nil {
				t.Fatalf("round %d: revoke the admin token kept before = %v", round, err)
			}
		}
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.RevokeToken(c, ids[i], now(), entry("token.revoke", ids[i]))
			}()
		}
		wg.Wait()
		var kept []string
		for i, err := range errs {
			switch {
			case errors.Is(err, store.ErrLastAdmin):
				kept = append(kept, ids[i])
			case err != nil:
				t.Fatalf("round %d: revoke %s = %v", round, ids[i], err)
			}
		}
		if len(kept) != 1 {
			t.Fatalf("round %d: %d admin tokens kept (%v); want exactly 1", round, len(kept), kept)
		}
		if tok, err := s.Token(c, kept[0]); err != nil || !tok.RevokedAt.IsZero() {
			t.Fatalf("round %d: the kept admin token = %+v, %v", round, tok, err)
		}
		if _, err := s.RevokeToken(c, kept[0], now(), entry("token.revoke", kept[0])); !errors.Is(err, store.ErrLastAdmin) {
			t.Fatalf("round %d: revoke the last admin token = %v; want ErrLastAdmin", round, err)
		}
		prev = kept[0]
	}
}

func testTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	tok := store.Token{ID: "tok_1", Hash: rnd(32), Role: "support", Description: "desk", CreatedAt: now()}
	if err := s.CreateToken(c, tok, entry("token.create", tok.ID)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(c, tok, entry("token.create", tok.ID)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateToken(dup) = %v, want ErrExists", err)
	}
	got, err := s.Token(c, "tok_1")
	if err != nil || !bytes.Equal(got.Hash, tok.Hash) || got.Role != "support" || got.Description != "desk" || !got.RevokedAt.IsZero() {
		t.Fatalf("Token = %+v, %v", got, err)
	}
	if _, err := s.Token(c, "tok_x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Token(missing) = %v", err)
	}
	at := now()
	r, err := s.RevokeToken(c, "tok_1", at, entry("token.revoke", "tok_1"))
	if err != nil || !r.RevokedAt.Equal(at) {
		t.Fatalf("RevokeToken = %+v, %v", r, err)
	}
	if _, err := s.RevokeToken(c, "tok_1", at.Add(time.Hour), entry("token.revoke", "tok_1")); err != nil {
		t.Fatalf("RevokeToken(again) = %v, want idempotent", err)
	}
	if _, err := s.RevokeToken(c, "tok_x", at, entry("token.revoke", "tok_x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RevokeToken(missing) = %v, want ErrNotFound", err)
	}
	all, err := s.Tokens(c)
	if err != nil || len(all) != 1 || !all[0].RevokedAt.Equal(at) {
		t.Fatalf("Tokens = %+v, %v", all, err)
	}
	au, _ := s.Audit(c, store.AuditQuery{Action: "token.revoke"})
	if len(au) != 1 {
		t.Errorf("audit has %d token.revoke entries, want 1 (idempotent revoke adds none)", len(au))
	}
}

func testCatalog(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	if sku.Group == 0 {
		t.Fatalf("CreateSKU assigned group 0")
	}
	if err := s.CreateProduct(c, store.Product{ID: "p", Name: "again", HardwareSalt: rnd(16), CreatedAt: now()}, entry("product.create", "p")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateProduct(dup) = %v, want ErrExists", err)
	}
	if _, err := s.CreateSKU(c, store.SKU{ID: "x", ProductID: "nope", Edition: "e", Channel: "oem", CreatedAt: now()}, entry("sku.create", "x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreateSKU(no product) = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateSKU(c, store.SKU{ID: "p-pro", ProductID: "p", Edition: "e", Channel: "oem", CreatedAt: now()}, entry("sku.create", "p-pro")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateSKU(dup) = %v, want ErrExists", err)
	}
	p, err := s.Product(c, "p")
	if err != nil || p.Name != "Product" || len(p.HardwareSalt) != 16 {
		t.Fatalf("Product = %+v, %v", p, err)
	}
	if _, err := s.Product(c, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Product(missing) = %v", err)
	}
	got, err := s.SKU(c, "p-pro")
	if err != nil || got.Policy != sku.Policy || got.Channel != "retail" || got.Edition != "Pro" || got.Group != sku.Group || len(got.Entitlements) != 1 {
		t.Fatalf("SKU = %+v, %v; want %+v", got, err, sku)
	}
	byGroup, err := s.SKUByGroup(c, sku.Group)
	if err != nil || byGroup.ID != "p-pro" {
		t.Fatalf("SKUByGroup = %+v, %v", byGroup, err)
	}
	if _, err := s.SKUByGroup(c, 999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SKUByGroup(missing) = %v", err)
	}
	ps, _ := s.Products(c)
	ss, _ := s.SKUs(c)
	if len(ps) != 1 || len(ss) != 1 {
		t.Fatalf("Products, SKUs = %d, %d; want 1, 1", len(ps), len(ss))
	}
}

func testSKUGroupsUnique(t *testing.T, s store.Store) {
	c := ctx(t)
	fixture(t, s)
	var wg sync.WaitGroup
	groups := make([]uint16, 20)
	for i := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sku, err := s.CreateSKU(c, store.SKU{ID: fmt.Sprintf("s%d", i), ProductID: "p", Edition: "e", Channel: "retail", CreatedAt: now()}, entry("sku.create", ""))
			if err != nil {
				t.Errorf("CreateSKU = %v", err)
			}
			groups[i] = sku.Group
		}()
	}
	wg.Wait()
	seen := map[uint16]bool{}
	for _, g := range groups {
		if g == 0 || seen[g] {
			t.Fatalf("groups %v: not unique and non-zero", groups)
		}
		seen[g] = true
	}
}

func testSerials(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	var mu sync.Mutex
	got := map[uint32]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := s.ReserveSerials(c, sku.ID, 100, 1<<30-1)
			if err != nil {
				t.Errorf("ReserveSerials = %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for j := first; j < first+100; j++ {
				if got[j] {
					t.Errorf("serial %d handed out twice", j)
				}
				got[j] = true
			}
		}()
	}
	wg.Wait()
	if len(got) != 1000 {
		t.Fatalf("%d serials, want 1000", len(got))
	}
	if _, err := s.ReserveSerials(c, sku.ID, 10, 1005); !errors.Is(err, store.ErrExhausted) {
		t.Fatalf("ReserveSerials(past max) = %v, want ErrExhausted", err)
	}
	if first, err := s.ReserveSerials(c, sku.ID, 6, 1005); err != nil || first != 1000 {
		t.Fatalf("ReserveSerials(up to max) = %d, %v; want 1000", first, err)
	}
	if _, err := s.ReserveSerials(c, "nope", 1, 10); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReserveSerials(no sku) = %v, want ErrNotFound", err)
	}
}

func testKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	batch := make([]store.Key, 1000)
	for i := range batch {
		batch[i] = store.Key{Hash: rnd(32), SKUID: sku.ID, LastGroup: "BCDFG", CreatedAt: now()}
	}
	if err := s.InsertKeys(c, batch, entry("keys.generate", sku.ID)); err != nil {
		t.Fatal(err)
	}
	// A batch with a duplicate is refused as a whole.
	dup := []store.Key{{Hash: rnd(32), SKUID: sku.ID, LastGroup: "HJKMP", CreatedAt: now()}, batch[3]}
	if err := s.InsertKeys(c, dup, entry("keys.generate", sku.ID)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("InsertKeys(dup) = %v, want ErrExists", err)
	}
	if _, err := s.Key(c, dup[0].Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key of a failed batch was stored: %v", err)
	}
	k, err := s.Key(c, batch[500].Hash)
	if err != nil || k.SKUID != sku.ID || k.LastGroup != "BCDFG" || k.Blocked {
		t.Fatalf("Key = %+v, %v", k, err)
	}
	if _, err := s.Key(c, rnd(32)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Key(missing) = %v", err)
	}
	at := now()
	k, err = s.SetKeyBlocked(c, batch[500].Hash, true, "counterfeit", at, entry("key.block", "BCDFG"))
	if err != nil || !k.Blocked || k.BlockReason != "counterfeit" || !k.BlockedAt.Equal(at) {
		t.Fatalf("SetKeyBlocked = %+v, %v", k, err)
	}
	if k, _ = s.Key(c, batch[500].Hash); !k.Blocked {
		t.Fatalf("blocked key reads as active")
	}
	k, err = s.SetKeyBlocked(c, batch[500].Hash, false, "ignored", at, entry("key.unblock", "BCDFG"))
	if err != nil || k.Blocked || k.BlockReason != "" {
		t.Fatalf("SetKeyBlocked(false) = %+v, %v", k, err)
	}
	if _, err := s.SetKeyBlocked(c, rnd(32), true, "x", at, entry("key.block", "")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetKeyBlocked(missing) = %v", err)
	}
}

func testAudit(t *testing.T, s store.Store) {
	c := ctx(t)
	for i := 0; i < 250; i++ {
		a := entry("test.action", fmt.Sprint(i))
		if i%2 == 1 {
			a.Action = "test.other"
		}
		if err := s.AppendAudit(c, a); err != nil {
			t.Fatal(err)
		}
	}
	page1, err := s.Audit(c, store.AuditQuery{})
	if err != nil || len(page1) != 100 {
		t.Fatalf("Audit(default) = %d entries, %v; want 100", len(page1), err)
	}
	for i := 1; i < len(page1); i++ {
		if page1[i].Seq <= page1[i-1].Seq {
			t.Fatalf("audit not ordered by seq")
		}
	}
	e := page1[0]
	if e.Target != "0" || e.Actor != "tok_test" || e.Detail != `{"x":1}` || e.RequestID != "req-1" || e.At.IsZero() {
		t.Fatalf("entry = %+v", e)
	}
	rest, _ := s.Audit(c, store.AuditQuery{AfterSeq: page1[99].Seq, Limit: 1000})
	if len(rest) != 150 {
		t.Fatalf("Audit(after) = %d, want 150", len(rest))
	}
	other, _ := s.Audit(c, store.AuditQuery{Action: "test.other", Limit: 1000})
	if len(other) != 125 {
		t.Fatalf("Audit(action) = %d, want 125", len(other))
	}
}

func anchor(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func newActivation(id string, sku store.SKU, anchors ...string) *store.Activation {
	a := &store.Activation{ID: id, SKUID: sku.ID, ProductID: sku.ProductID, LastGroup: "7FQ2K", Profile: []byte(`{"id":"` + id + `"}`), CreatedAt: now()}
	for _, an := range anchors {
		a.Anchors = append(a.Anchors, anchor(an))
	}
	return a
}

func testActivate(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	k := newKey(t, s, sku)
	var sawKey store.Key
	a, created, err := s.Activate(c, k.Hash, [][]byte{anchor("pc-a")}, func(key store.Key, cands []store.Activation) (store.Decision, error) {
		sawKey = key
		if len(cands) != 0 {
			t.Errorf("candidates = %v, want none", cands)
		}
		return store.Decision{New: newActivation("act_1", sku, "pc-a")}, nil
	})
	if err != nil || !created || a.ID != "act_1" || a.Status != store.StatusActive || !bytes.Equal(a.KeyHash, k.Hash) {
		t.Fatalf("Activate = %+v, %v, %v", a, created, err)
	}
	if sawKey.SKUID != sku.ID || sawKey.ActiveActivations != 0 {
		t.Fatalf("decide saw key %+v", sawKey)
	}
	a, created, err = s.Activate(c, k.Hash, [][]byte{anchor("pc-a")}, func(key store.Key, cands []store.Activation) (store.Decision, error) {
		if key.ActiveActivations != 1 || key.Activations != 1 || len(cands) != 1 || cands[0].ID != "act_1" || string(cands[0].Profile) != `{"id":"act_1"}` {
			t.Errorf("second decide saw %+v, %+v", key, cands)
		}
		return store.Decision{Existing: "act_1"}, nil
	})
	if err != nil || created || a.ID != "act_1" {
		t.Fatalf("Activate(existing) = %+v, %v, %v", a, created, err)
	}
	got, err := s.Activation(c, "act_1")
	if err != nil || got.ProductID != "p" || got.SKUID != sku.ID || len(got.Anchors) != 1 || !bytes.Equal(got.Anchors[0], anchor("pc-a")) || got.Status != store.StatusActive {
		t.Fatalf("Activation = %+v, %v", got, err)
	}
	if _, err := s.Activation(c, "act_x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Activation(missing) = %v", err)
	}
	if _, _, err := s.Activate(c, rnd(32), nil, func(store.Key, []store.Activation) (store.Decision, error) {
		t.Error("decide called for a missing key")
		return store.Decision{}, nil
	}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Activate(missing key) = %v, want ErrNotFound", err)
	}
	list, err := s.ActivationsByKey(c, k.Hash)
	if err != nil || len(list) != 1 {
		t.Fatalf("ActivationsByKey = %v, %v", list, err)
	}
	key, _ := s.Key(c, k.Hash)
	if key.ActiveActivations != 1 || key.Activations != 1 {
		t.Fatalf("key counters = %d, %d; want 1, 1", key.ActiveActivations, key.Activations)
	}
}

var errRefused = errors.New("refused")

func testActivateDecisionError(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	k := newKey(t, s, sku)
	_, _, err := s.Activate(c, k.Hash, nil, func(store.Key, []store.Activation) (store.Decision, error) {
		return store.Decision{}, errRefused
	})
	if !errors.Is(err, errRefused) {
		t.Fatalf("Activate = %v, want the decision's error", err)
	}
	if list, _ := s.ActivationsByKey(c, k.Hash); len(list) != 0 {
		t.Fatalf("refused activation was stored: %v", list)
	}
}

// activateAll activates n devices at once, device i with keys[i%len(keys)],
// each refused once its key holds seats activations, and counts the
// activations made and refused.
func activateAll(t *testing.T, s store.Store, sku store.SKU, keys []store.Key, n, seats int) (made, refused int) {
	c := ctx(t)
	var ok, full atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("act_%03d", i)
			_, created, err := s.Activate(c, keys[i%len(keys)].Hash, [][]byte{anchor(id)}, func(key store.Key, cands []store.Activation) (store.Decision, error) {
				if key.ActiveActivations >= seats || len(cands) >= seats {
					return store.Decision{}, errRefused
				}
				return store.Decision{New: newActivation(id, sku, id)}, nil
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
	return int(ok.Load()), int(full.Load())
}

// seatsHeld fails the test unless every key counts exactly want active
// activations and holds them.
func seatsHeld(t *testing.T, s store.Store, keys []store.Key, want int) {
	t.Helper()
	c := ctx(t)
	for i, k := range keys {
		key, err := s.Key(c, k.Hash)
		list, err2 := s.ActivationsByKey(c, k.Hash)
		if err != nil || err2 != nil || key.ActiveActivations != want || key.Activations != want || len(list) != want {
			t.Fatalf("key %d: counters %d active, %d total, %d stored (%v, %v); want %d each", i, key.ActiveActivations, key.Activations, len(list), err, err2, want)
		}
	}
}

// testActivateRelease: a new activation that takes the place of a stored
// one of its key (Decision.Release) ends it in the same transaction, and
// the key's counters show one seat; a decision that would release
// anything else (another key's activation, one not among the candidates)
// changes nothing. Then the freed seat is not free twice: at a 1-seat
// key, 20 devices racing with a release of the same activation leave
// exactly one of them activated.
func testActivateRelease(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	k, other := newKey(t, s, sku), newKey(t, s, sku)
	activate := func(key store.Key, id, anc string, decide func(store.Key, []store.Activation) (store.Decision, error)) (store.Activation, error) {
		a, _, err := s.Activate(c, key.Hash, [][]byte{anchor(anc)}, decide)
		return a, err
	}
	plain := func(id, anc string) func(store.Key, []store.Activation) (store.Decision, error) {
		return func(store.Key, []store.Activation) (store.Decision, error) {
			return store.Decision{New: newActivation(id, sku, anc)}, nil
		}
	}
	if _, err := activate(k, "act_old", "board", plain("act_old", "board")); err != nil {
		t.Fatal(err)
	}
	if _, err := activate(other, "act_other", "board", plain("act_other", "board")); err != nil {
		t.Fatal(err)
	}
	// Releasing another key's activation, or one that is no candidate, is
	// refused and writes nothing.
	for _, bad := range []string{"act_other", "act_nowhere"} {
		_, err := activate(k, "act_bad", "board", func(store.Key, []store.Activation) (store.Decision, error) {
			return store.Decision{New: newActivation("act_bad", sku, "board"), Release: bad}, nil
		})
		if err == nil {
			t.Fatalf("a release of %s was accepted", bad)
		}
	}
	var seen store.Key
	a, err := activate(k, "act_new", "board", func(key store.Key, cands []store.Activation) (store.Decision, error) {
		seen = key
		return store.Decision{New: newActivation("act_new", sku, "board"), Release: "act_old"}, nil
	})
	if err != nil || a.ID != "act_new" || seen.ActiveActivations != 1 {
		t.Fatalf("activate with a release = %+v, %v (key before: %+v)", a, err, seen)
	}
	old, err := s.Activation(c, "act_old")
	if err != nil || old.Status != store.StatusDeactivated || old.EndReason != store.EndReasonHardwareChanged || !old.EndedAt.Equal(a.CreatedAt) {
		t.Fatalf("released activation = %+v, %v", old, err)
	}
	if _, err := s.Activation(c, "act_bad"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused decision left act_bad: %v", err)
	}
	key, err := s.Key(c, k.Hash)
	if err != nil || key.ActiveActivations != 1 || key.Activations != 2 {
		t.Fatalf("key after the release: %+v, %v; want 1 active of 2", key, err)
	}

	// Many devices race to take act_new's place; each decision releases it
	// only if it is still among the candidates and counts the seat as free
	// only then.
	var made atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("act_race_%02d", i)
			_, created, err := s.Activate(c, k.Hash, [][]byte{anchor("board")}, func(key store.Key, cands []store.Activation) (store.Decision, error) {
				for _, cd := range cands {
					if cd.ID == "act_new" {
						return store.Decision{New: newActivation(id, sku, "board"), Release: "act_new"}, nil
					}
				}
				if key.ActiveActivations >= 1 {
					return store.Decision{}, errRefused
				}
				return store.Decision{New: newActivation(id, sku, "board")}, nil
			})
			switch {
			case errors.Is(err, errRefused):
			case err != nil:
				t.Errorf("Activate = %v", err)
			case created:
				made.Add(1)
			}
		}()
	}
	wg.Wait()
	key, err = s.Key(c, k.Hash)
	list, err2 := s.ActivationsByKey(c, k.Hash)
	active := 0
	for _, a := range list {
		if a.Status == store.StatusActive {
			active++
		}
	}
	if err != nil || err2 != nil || made.Load() != 1 || key.ActiveActivations != 1 || active != 1 {
		t.Fatalf("after the race: %d made, key counts %d active, %d active stored (%v, %v); want 1 each", made.Load(), key.ActiveActivations, active, err, err2)
	}
}

// testActivateTakenID: a new activation whose id is already taken fails with
// ErrExists and alone. The activations decided at the same moment (in the
// same write group, where the store has them) are stored, the failed one
// counts no seat, and the store goes on working.
func testActivateTakenID(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	first := newKey(t, s, sku)
	if _, _, err := s.Activate(c, first.Hash, [][]byte{anchor("first")}, func(store.Key, []store.Activation) (store.Decision, error) {
		return store.Decision{New: newActivation("act_taken", sku, "first")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		keys := make([]store.Key, 16)
		errs := make([]error, len(keys))
		for i := range keys {
			keys[i] = newKey(t, s, sku)
		}
		var wg sync.WaitGroup
		for i := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, dev := fmt.Sprintf("act_%d_%02d", round, i), fmt.Sprintf("dev-%d-%02d", round, i)
				if i%4 == 0 {
					id = "act_taken"
				}
				_, _, errs[i] = s.Activate(c, keys[i].Hash, [][]byte{anchor(dev)}, func(store.Key, []store.Activation) (store.Decision, error) {
					return store.Decision{New: newActivation(id, sku, dev)}, nil
				})
			}()
		}
		wg.Wait()
		for i, k := range keys {
			key, err := s.Key(c, k.Hash)
			if err != nil {
				t.Fatal(err)
			}
			if i%4 == 0 {
				if !errors.Is(errs[i], store.ErrExists) || key.ActiveActivations != 0 || key.Activations != 0 {
					t.Fatalf("round %d: activation %d with a taken id = %v, key holds %d of %d; want ErrExists, no seat", round, i, errs[i], key.ActiveActivations, key.Activations)
				}
				continue
			}
			if errs[i] != nil || key.ActiveActivations != 1 || key.Activations != 1 {
				t.Fatalf("round %d: activation %d beside a taken id = %v, key holds %d of %d; want stored, one seat", round, i, errs[i], key.ActiveActivations, key.Activations)
			}
			if a, err := s.Activation(c, fmt.Sprintf("act_%d_%02d", round, i)); err != nil || !bytes.Equal(a.KeyHash, k.Hash) {
				t.Fatalf("round %d: activation %d = %+v, %v", round, i, a, err)
			}
		}
	}
	taken, err := s.Activation(c, "act_taken")
	if err != nil || !bytes.Equal(taken.KeyHash, first.Hash) || len(taken.Anchors) != 1 || !bytes.Equal(taken.Anchors[0], anchor("first")) {
		t.Fatalf("act_taken = %+v, %v; want the first key's, unchanged", taken, err)
	}
	if cands, err := s.ActivationsByAnchors(c, "p", [][]byte{anchor("dev-0-00")}); err != nil || len(cands) != 0 {
		t.Fatalf("the failed activation left its anchor: %+v, %v", cands, err)
	}
}

// 200 concurrent activations of a 5-seat key from 200 devices: exactly 5.
func testSeatLimitConcurrent(t *testing.T, s store.Store) {
	sku := fixture(t, s)
	keys := []store.Key{newKey(t, s, sku)}
	if made, refused := activateAll(t, s, sku, keys, 200, 5); made != 5 || refused != 195 {
		t.Fatalf("%d activated, %d refused; want 5, 195", made, refused)
	}
	seatsHeld(t, s, keys, 5)
}

// testManyKeysConcurrent activates 20 keys of 3 seats from 10 devices
// each, all at once, so that the writers decide and count many keys in
// one transaction: every key ends with exactly its 3 seats taken and
// counted.
func testManyKeysConcurrent(t *testing.T, s store.Store) {
	sku := fixture(t, s)
	var keys []store.Key
	for range 20 {
		keys = append(keys, newKey(t, s, sku))
	}
	if made, refused := activateAll(t, s, sku, keys, 200, 3); made != 60 || refused != 140 {
		t.Fatalf("%d activated, %d refused; want 60, 140", made, refused)
	}
	seatsHeld(t, s, keys, 3)
}

func testEndActivation(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	k := newKey(t, s, sku)
	for _, id := range []string{"act_1", "act_2"} {
		if _, _, err := s.Activate(c, k.Hash, nil, func(store.Key, []store.Activation) (store.Decision, error) {
			return store.Decision{New: newActivation(id, sku, id)}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.EndActivation(c, "act_1", store.StatusDeactivated, "user", now(), func(store.Activation) error { return errRefused }, nil); !errors.Is(err, errRefused) {
		t.Fatalf("EndActivation(refused) = %v", err)
	}
	at := now()
	a, err := s.EndActivation(c, "act_1", store.StatusDeactivated, "user", at, nil, nil)
	if err != nil || a.Status != store.StatusDeactivated || !a.EndedAt.Equal(at) || a.EndReason != "user" {
		t.Fatalf("EndActivation = %+v, %v", a, err)
	}
	au := entry("activation.revoke", "act_2")
	if _, err := s.EndActivation(c, "act_2", store.StatusRevoked, "refund", at, nil, &au); err != nil {
		t.Fatal(err)
	}
	// ending twice changes nothing and frees nothing
	if a, err := s.EndActivation(c, "act_1", store.StatusRevoked, "again", at, nil, nil); err != nil || a.Status != store.StatusDeactivated {
		t.Fatalf("EndActivation(again) = %+v, %v", a, err)
	}
	key, _ := s.Key(c, k.Hash)
	if key.ActiveActivations != 0 || key.Activations != 2 {
		t.Fatalf("key counters = %d active, %d total; want 0, 2", key.ActiveActivations, key.Activations)
	}
	if _, err := s.EndActivation(c, "act_x", store.StatusRevoked, "", at, nil, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("EndActivation(missing) = %v", err)
	}
	if got, _ := s.Audit(c, store.AuditQuery{Action: "activation.revoke"}); len(got) != 1 {
		t.Fatalf("audit entries for revoke = %d, want 1", len(got))
	}
	// candidates only include active activations
	_, _, err = s.Activate(c, k.Hash, nil, func(_ store.Key, cands []store.Activation) (store.Decision, error) {
		if len(cands) != 0 {
			t.Errorf("candidates after ending = %d, want 0", len(cands))
		}
		return store.Decision{}, errRefused
	})
	if !errors.Is(err, errRefused) {
		t.Fatal(err)
	}
}

// Each activation decides on the key as the last write left it, whatever
// wrote it: an activation, a deactivation, a block or unblock, an expiry
// (a store that keeps keys between activations must drop them on every
// other write).
func testActivateSeesEveryKeyChange(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	k := newKey(t, s, sku)
	saw := func(id string) (store.Key, error) {
		var key store.Key
		_, _, err := s.Activate(c, k.Hash, [][]byte{anchor(id)}, func(got store.Key, _ []store.Activation) (store.Decision, error) {
			key = got
			if got.Blocked {
				return store.Decision{}, errRefused
			}
			a := newActivation(id, sku, id)
			if id == "act_sub" {
				a.NotAfter = now().Add(time.Second)
			}
			return store.Decision{New: a}, nil
		})
		return key, err
	}
	want := func(step string, key store.Key, err error, active, total int, blocked bool) {
		t.Helper()
		if key.ActiveActivations != active || key.Activations != total || key.Blocked != blocked {
			t.Fatalf("%s: decide saw %d active, %d in all, blocked %v; want %d, %d, %v (err %v)", step, key.ActiveActivations, key.Activations, key.Blocked, active, total, blocked, err)
		}
	}
	key, err := saw("act_1")
	want("first activation", key, err, 0, 0, false)
	key, err = saw("act_2")
	want("after an activation", key, err, 1, 1, false)
	if _, err := s.EndActivation(c, "act_1", store.StatusDeactivated, "user", now(), nil, nil); err != nil {
		t.Fatal(err)
	}
	key, err = saw("act_3")
	want("after a deactivation", key, err, 1, 2, false)
	if _, err := s.SetKeyBlocked(c, k.Hash, true, "leaked", now(), entry("keys.block", "k")); err != nil {
		t.Fatal(err)
	}
	key, err = saw("act_4")
	want("after a block", key, err, 2, 3, true)
	if !errors.Is(err, errRefused) {
		t.Fatalf("activation of a blocked key = %v, want refused", err)
	}
	if _, err := s.SetKeyBlocked(c, k.Hash, false, "", now(), entry("keys.unblock", "k")); err != nil {
		t.Fatal(err)
	}
	key, err = saw("act_sub")
	want("after an unblock", key, err, 2, 3, false)
	if n, err := s.ExpireActivations(c, now().Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("ExpireActivations = %d, %v; want 1", n, err)
	}
	key, err = saw("act_5")
	want("after an expiry", key, err, 2, 4, false)
	// An activation that fails after its decision (a taken id) leaves
	// nothing behind, neither in the database nor in what the next one
	// sees.
	if _, _, err := s.Activate(c, k.Hash, [][]byte{anchor("again")}, func(store.Key, []store.Activation) (store.Decision, error) {
		return store.Decision{New: newActivation("act_5", sku, "again")}, nil
	}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("activation with a taken id = %v, want ErrExists", err)
	}
	key, err = saw("act_6")
	want("after a failed activation", key, err, 3, 5, false)
}

func testAnchors(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	k1, k2 := newKey(t, s, sku), newKey(t, s, sku)
	act := func(k store.Key, id string, anchors ...string) {
		t.Helper()
		var raw [][]byte
		for _, a := range anchors {
			raw = append(raw, anchor(a))
		}
		if _, _, err := s.Activate(c, k.Hash, raw, func(store.Key, []store.Activation) (store.Decision, error) {
			return store.Decision{New: newActivation(id, sku, anchors...)}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	act(k1, "act_a", "uuid-a", "mac-a", "disk-a")
	act(k2, "act_b", "uuid-b", "mac-b", "disk-shared")
	act(k1, "act_c", "uuid-c", "disk-shared")
	got, err := s.ActivationsByAnchors(c, "p", [][]byte{anchor("mac-a"), anchor("nothing")})
	if err != nil || len(got) != 1 || got[0].ID != "act_a" || len(got[0].Anchors) != 3 {
		t.Fatalf("ActivationsByAnchors(mac-a) = %+v, %v", got, err)
	}
	got, _ = s.ActivationsByAnchors(c, "p", [][]byte{anchor("disk-shared"), anchor("uuid-b")})
	if len(got) != 2 {
		t.Fatalf("ActivationsByAnchors(shared) = %d results, want 2 (no duplicates)", len(got))
	}
	if got, _ := s.ActivationsByAnchors(c, "other-product", [][]byte{anchor("mac-a")}); len(got) != 0 {
		t.Fatalf("anchors leak across products: %v", got)
	}
	if _, err := s.EndActivation(c, "act_a", store.StatusDeactivated, "", now(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ActivationsByAnchors(c, "p", [][]byte{anchor("mac-a")}); len(got) != 0 {
		t.Fatalf("ended activation still found by anchors")
	}
	if got, err := s.ActivationsByAnchors(c, "p", nil); err != nil || len(got) != 0 {
		t.Fatalf("ActivationsByAnchors(nil) = %v, %v", got, err)
	}
}

func testWatch(t *testing.T, s store.Store) {
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	sku := fixture(t, s)
	k := newKey(t, s, sku)
	got := make(chan store.Change, 100)
	ready := make(chan struct{})
	go func() {
		close(ready)
		_ = s.Watch(c, func(ch store.Change) { got <- ch })
	}()
	<-ready
	// PostgreSQL needs a moment to LISTEN; retry the change until seen.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.SetKeyBlocked(c, k.Hash, true, "leaked", now(), entry("key.block", "")); err != nil {
			t.Fatal(err)
		}
		select {
		case ch := <-got:
			if ch.Kind == store.ChangeKey || ch.Kind == "all" {
				return
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("no key change seen by Watch within 10s")
}

func testTimePrecision(t *testing.T, s store.Store) {
	c := ctx(t)
	at := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	if err := s.CreateProduct(c, store.Product{ID: "t", Name: "T", HardwareSalt: rnd(16), CreatedAt: at}, entry("product.create", "t")); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Product(c, "t")
	if want := at.Truncate(time.Millisecond).UTC(); !p.CreatedAt.Equal(want) || p.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt = %v, want %v in UTC", p.CreatedAt, want)
	}
}

// Candidates are the product's active activations sharing an anchor, made
// with any key (the repair case needs the other keys' ones).
func testCandidatesAcrossKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	k1, k2 := newKey(t, s, sku), newKey(t, s, sku)
	if _, _, err := s.Activate(c, k1.Hash, [][]byte{anchor("pc")}, func(store.Key, []store.Activation) (store.Decision, error) {
		return store.Decision{New: newActivation("act_first", sku, "pc", "disk")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	var seen []store.Activation
	if _, _, err := s.Activate(c, k2.Hash, [][]byte{anchor("disk"), anchor("other")}, func(_ store.Key, cands []store.Activation) (store.Decision, error) {
		seen = cands
		a := newActivation("act_second", sku, "pc")
		a.PriorID = "act_first"
		return store.Decision{New: a}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].ID != "act_first" || !bytes.Equal(seen[0].KeyHash, k1.Hash) {
		t.Fatalf("candidates = %+v, want act_first of the other key", seen)
	}
	got, err := s.Activation(c, "act_second")
	if err != nil || got.PriorID != "act_first" {
		t.Fatalf("PriorID = %q, %v", got.PriorID, err)
	}
	// A candidate of an ended activation is not offered.
	if _, err := s.EndActivation(c, "act_first", store.StatusDeactivated, "", now(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Activate(c, k2.Hash, [][]byte{anchor("disk")}, func(_ store.Key, cands []store.Activation) (store.Decision, error) {
		if len(cands) != 0 {
			t.Errorf("candidates after ending = %v", cands)
		}
		return store.Decision{}, errRefused
	}); !errors.Is(err, errRefused) {
		t.Fatal(err)
	}
}

func testFeedback(t *testing.T, s store.Store) {
	c := ctx(t)
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.RecordFeedback(c, "/help/reasons/KEY_BLOCKED", "nl", i%3 != 0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.RecordFeedback(c, "/help/errors/KEY_TYPO", "en", false); err != nil {
		t.Fatal(err)
	}
	got, err := s.Feedback(c)
	if err != nil || len(got) != 2 {
		t.Fatalf("Feedback = %+v, %v", got, err)
	}
	if got[0] != (store.FeedbackCount{Page: "/help/errors/KEY_TYPO", Lang: "en", Yes: 0, No: 1}) || got[1] != (store.FeedbackCount{Page: "/help/reasons/KEY_BLOCKED", Lang: "nl", Yes: 20, No: 10}) {
		t.Fatalf("Feedback = %+v", got)
	}
}

// activateUntil activates a new activation id with key k, valid until
// notAfter (zero: perpetual).
func activateUntil(t *testing.T, s store.Store, sku store.SKU, k store.Key, id string, notAfter time.Time) {
	t.Helper()
	_, _, err := s.Activate(ctx(t), k.Hash, [][]byte{anchor(id)}, func(store.Key, []store.Activation) (store.Decision, error) {
		a := newActivation(id, sku, id)
		a.NotAfter = notAfter
		return store.Decision{New: a}, nil
	})
	if err != nil {
		t.Fatalf("Activate(%s) = %v", id, err)
	}
}

// watchChanges runs s.Watch until the test ends and returns once it is
// known to listen: changes made through s afterwards are reported.
func watchChanges(t *testing.T, s store.Store, probe store.Key) <-chan store.Change {
	t.Helper()
	c, cancel := context.WithCancel(context.Background())
	got := make(chan store.Change, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Watch(c, func(ch store.Change) { got <- ch })
	}()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.SetKeyBlocked(ctx(t), probe.Hash, false, "", now(), entry("key.unblock", "")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			time.Sleep(50 * time.Millisecond)
			for len(got) > 0 {
				<-got
			}
			return got
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("Watch saw nothing within 10s")
	return nil
}

// The sweep ends activations whose validity passed, frees their seats and
// tells the watchers, in batches, and leaves everything else alone.
func testExpireActivations(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	k1, k2, probe := newKey(t, s, sku), newKey(t, s, sku), newKey(t, s, sku)
	t0 := now()
	activateUntil(t, s, sku, k1, "act_old", t0.Add(-48*time.Hour))
	activateUntil(t, s, sku, k2, "act_k2", t0.Add(-time.Hour))
	activateUntil(t, s, sku, k1, "act_due", t0) // "not after now": due
	activateUntil(t, s, sku, k1, "act_later", t0.Add(time.Millisecond))
	activateUntil(t, s, sku, k2, "act_forever", time.Time{})
	activateUntil(t, s, sku, k2, "act_revoked", t0.Add(-time.Hour))
	if _, err := s.EndActivation(c, "act_revoked", store.StatusRevoked, "refund", t0.Add(-time.Minute), nil, nil); err != nil {
		t.Fatal(err)
	}
	w := watchChanges(t, s, probe)

	if _, err := s.ExpireActivations(c, t0, 0); err == nil {
		t.Errorf("ExpireActivations(limit 0) = nil error, want an error")
	}
	// Oldest first, at most limit per call.
	for i, want := range []int{2, 1, 0} {
		n, err := s.ExpireActivations(c, t0, 2)
		if err != nil || n != want {
			t.Fatalf("ExpireActivations call %d = %d, %v; want %d", i+1, n, err, want)
		}
	}
	for _, tt := range []struct {
		id, status, reason string
		ended              time.Time
	}{
		{"act_old", store.StatusDeactivated, store.EndReasonExpired, t0},
		{"act_k2", store.StatusDeactivated, store.EndReasonExpired, t0},
		{"act_due", store.StatusDeactivated, store.EndReasonExpired, t0},
		{"act_later", store.StatusActive, "", time.Time{}},
		{"act_forever", store.StatusActive, "", time.Time{}},
		{"act_revoked", store.StatusRevoked, "refund", t0.Add(-time.Minute)},
	} {
		a, err := s.Activation(c, tt.id)
		if err != nil || a.Status != tt.status || a.EndReason != tt.reason || !a.EndedAt.Equal(tt.ended) {
			t.Errorf("Activation(%s) = %s %q ended %v, %v; want %s %q ended %v", tt.id, a.Status, a.EndReason, a.EndedAt, err, tt.status, tt.reason, tt.ended)
		}
	}
	for _, tt := range []struct {
		name         string
		k            store.Key
		active, ever int
	}{{"k1", k1, 1, 3}, {"k2", k2, 1, 3}} {
		key, err := s.Key(c, tt.k.Hash)
		if err != nil || key.ActiveActivations != tt.active || key.Activations != tt.ever {
			t.Errorf("Key(%s) counters = %d active, %d ever, %v; want %d, %d", tt.name, key.ActiveActivations, key.Activations, err, tt.active, tt.ever)
		}
	}
	if got, err := s.ActivationsByAnchors(c, "p", [][]byte{anchor("act_old"), anchor("act_due")}); err != nil || len(got) != 0 {
		t.Errorf("ActivationsByAnchors(expired) = %v, %v; want none", got, err)
	}

	// Every ended activation is reported, as EndActivation reports it.
	want := map[store.Change]bool{
		{Kind: store.ChangeActivation, ID: "act_old"}: true,
		{Kind: store.ChangeActivation, ID: "act_k2"}:  true,
		{Kind: store.ChangeActivation, ID: "act_due"}: true,
		{Kind: store.ChangeKey, ID: hexOf(k1.Hash)}:   true,
		{Kind: store.ChangeKey, ID: hexOf(k2.Hash)}:   true,
	}
	timeout := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case ch := <-w:
			if ch.Kind == "all" {
				return // the watcher was told to drop everything
			}
			delete(want, ch)
		case <-timeout:
			t.Fatalf("Watch did not report %v within 10s", want)
		}
	}
}

// Sweeps running at once end every due activation exactly once.
func testExpireActivationsConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	keys := []store.Key{newKey(t, s, sku), newKey(t, s, sku)}
	t0 := now()
	const due = 24
	for i := range due {
		activateUntil(t, s, sku, keys[i%2], fmt.Sprintf("act_%02d", i), t0.Add(-time.Duration(i+1)*time.Minute))
	}
	// A perpetual activation per key: a seat freed twice would show.
	activateUntil(t, s, sku, keys[0], "act_keep_0", time.Time{})
	activateUntil(t, s, sku, keys[1], "act_keep_1", time.Time{})
	var total atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				n, err := s.ExpireActivations(c, t0, 3)
				if err != nil {
					t.Errorf("ExpireActivations = %v", err)
					return
				}
				total.Add(int32(n))
			}
		}()
	}
	wg.Wait()
	for {
		n, err := s.ExpireActivations(c, t0, 3)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total.Add(int32(n))
	}
	if total.Load() != due {
		t.Fatalf("sweeps ended %d activations, want %d", total.Load(), due)
	}
	for i, k := range keys {
		key, err := s.Key(c, k.Hash)
		if err != nil || key.ActiveActivations != 1 || key.Activations != due/2+1 {
			t.Errorf("key %d counters = %d active, %d ever, %v; want 1, %d", i, key.ActiveActivations, key.Activations, err, due/2+1)
		}
	}
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }

// The first activation with a validity end fixes the key's; later ones
// keep it.
func testKeyNotAfter(t *testing.T, s store.Store) {
	c := ctx(t)
	sku := fixture(t, s)
	k := newKey(t, s, sku)
	end := now().Add(30 * 24 * time.Hour)
	for i, na := range []time.Time{end, end.Add(99 * time.Hour)} {
		id := fmt.Sprintf("act_na%d", i)
		if _, _, err := s.Activate(c, k.Hash, [][]byte{anchor(id)}, func(key store.Key, _ []store.Activation) (store.Decision, error) {
			if i == 1 && !key.NotAfter.Equal(end) {
				t.Errorf("decide saw NotAfter %v, want %v", key.NotAfter, end)
			}
			a := newActivation(id, sku, id)
			a.NotAfter = na
			return store.Decision{New: a}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Key(c, k.Hash)
	if err != nil || !got.NotAfter.Equal(end) {
		t.Fatalf("Key.NotAfter = %v, %v; want %v", got.NotAfter, err, end)
	}
	plain := newKey(t, s, sku)
	if _, _, err := s.Activate(c, plain.Hash, nil, func(store.Key, []store.Activation) (store.Decision, error) {
		return store.Decision{New: newActivation("act_plain", sku)}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Key(c, plain.Hash); !got.NotAfter.IsZero() {
		t.Fatalf("perpetual key got NotAfter %v", got.NotAfter)
	}
}

// CheckMigratedAnchors checks a store opened on a database that an older
// schema (version 6) filled with product "p", activation "act_a" with the
// anchors want (in activation_anchors only) and "act_b" with none: after
// the migration both read back with their anchors, by id and by anchor.
// Each store's TestAnchorsMigration builds that database.
func CheckMigratedAnchors(t *testing.T, s store.Store, want [][]byte) {
	t.Helper()
	c := ctx(t)
	want = slices.SortedFunc(slices.Values(want), bytes.Compare)
	got, err := s.Activation(c, "act_a")
	if err != nil || !slices.EqualFunc(got.Anchors, want, bytes.Equal) {
		t.Fatalf("Activation after migration: anchors %x, %v; want %x", got.Anchors, err, want)
	}
	if got, err := s.Activation(c, "act_b"); err != nil || got.Anchors != nil {
		t.Fatalf("activation without anchors: %x, %v", got.Anchors, err)
	}
	found, err := s.ActivationsByAnchors(c, "p", want[:1])
	if err != nil || len(found) != 1 || found[0].ID != "act_a" || !slices.EqualFunc(found[0].Anchors, want, bytes.Equal) {
		t.Fatalf("ActivationsByAnchors after migration = %+v, %v", found, err)
	}
}
