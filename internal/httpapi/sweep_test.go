package httpapi_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/httpapi"
	"github.com/echt-dev/echt/internal/httpapi/httpapitest"
	"github.com/echt-dev/echt/internal/store"
)

// expiredActivation stores an activation whose validity ended an hour ago.
func expiredActivation(t *testing.T, st store.Store, id string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	a := store.AuditEntry{Actor: "test", Action: "test"}
	if _, err := st.Product(ctx, "p"); err != nil {
		if err := st.CreateProduct(ctx, store.Product{ID: "p", Name: "P", HardwareSalt: []byte("salt"), CreatedAt: now}, a); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateSKU(ctx, store.SKU{ID: "p-sub", ProductID: "p", Edition: "Pro", Channel: "subscription", Policy: store.Policy{MaxDevices: 1, ValidDays: 1}, CreatedAt: now}, a); err != nil {
			t.Fatal(err)
		}
	}
	hash := []byte("key-hash-of-" + id)
	if err := st.InsertKeys(ctx, []store.Key{{Hash: hash, SKUID: "p-sub", LastGroup: "7FQ2K", CreatedAt: now}}, a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Activate(ctx, hash, nil, func(store.Key, []store.Activation) (store.Decision, error) {
		return store.Decision{New: &store.Activation{ID: id, SKUID: "p-sub", ProductID: "p", LastGroup: "7FQ2K", Profile: []byte("{}"), CreatedAt: now.Add(-25 * time.Hour), NotAfter: now.Add(-time.Hour)}}, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// serve runs a second API server over srv's store with cfg until the test
// ends; it returns a function that stops it and reports Serve's error.
func serve(t *testing.T, srv *httpapitest.Server, cfg httpapi.Config) func() error {
	t.Helper()
	api, err := httpapi.New(cfg, httpapi.Deps{Store: srv.Store, Keyring: srv.Keyring})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, ln, time.Second) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			done <- err
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return within 10s of its context ending")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestExpirySweep(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	expiredActivation(t, srv.Store, "act_expired")
	stop := serve(t, srv, httpapi.Config{ExpirySweep: 20 * time.Millisecond})
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, err := srv.Store.Activation(context.Background(), "act_expired")
		if err != nil {
			t.Fatal(err)
		}
		if a.Status == store.StatusDeactivated {
			if a.EndReason != store.EndReasonExpired {
				t.Fatalf("end reason = %q, want %q", a.EndReason, store.EndReasonExpired)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("activation still %s 5s after its validity ended", a.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Activations expiring later are swept at a later tick.
	expiredActivation(t, srv.Store, "act_expired_later")
	deadline = time.Now().Add(5 * time.Second)
	for {
		a, _ := srv.Store.Activation(context.Background(), "act_expired_later")
		if a.Status == store.StatusDeactivated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second activation still %s after 5s", a.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The admin API shows why the activation ended.
	got := decode[httpapi.ActivationView](t, call(t, srv, "GET", "/v1/admin/activations/act_expired", srv.AdminToken, nil))
	if got.Status != store.StatusDeactivated || got.EndReason != store.EndReasonExpired || got.EndedAt.IsZero() {
		t.Fatalf("GET activation = %+v, want deactivated (expired)", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

func TestExpirySweepOff(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	expiredActivation(t, srv.Store, "act_expired")
	serve(t, srv, httpapi.Config{ExpirySweep: -1})
	time.Sleep(200 * time.Millisecond)
	if a, err := srv.Store.Activation(context.Background(), "act_expired"); err != nil || a.Status != store.StatusActive {
		t.Fatalf("activation = %s, %v; want still active with the sweep off", a.Status, err)
	}
	// SweepExpired is what the job runs; called directly it sweeps.
	if n, err := srv.API.SweepExpired(context.Background()); err != nil || n != 1 {
		t.Fatalf("SweepExpired = %d, %v; want 1", n, err)
	}
}
