package echt_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/echt-dev/echt"
	"github.com/echt-dev/echt/internal/httpapi/httpapitest"
	"github.com/echt-dev/echt/problem"
)

// fixture is a running server with a product, a SKU and keys.
type fixture struct {
	srv  *httpapitest.Server
	keys []string
}

func adminCall(t testing.TB, srv *httpapitest.Server, method, path string, body any, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatal(err)
		}
	}
}

func newFixture(t testing.TB, channel string, maxDevices, nkeys int, policy map[string]int) fixture {
	t.Helper()
	srv := httpapitest.Start(t, httpapitest.Options{})
	adminCall(t, srv, "POST", "/v1/admin/products", map[string]string{"id": "photoedit", "name": "PhotoEdit"}, nil)
	pol := map[string]int{"max_devices": maxDevices}
	for k, v := range policy {
		pol[k] = v
	}
	adminCall(t, srv, "POST", "/v1/admin/skus", map[string]any{"id": "pe", "product": "photoedit", "edition": "Pro", "channel": channel, "policy": pol}, nil)
	var batch struct{ Keys []string }
	adminCall(t, srv, "POST", "/v1/admin/skus/pe/keys", map[string]int{"count": nkeys}, &batch)
	return fixture{srv: srv, keys: batch.Keys}
}

func device(i int) echt.Hardware {
	return echt.Hardware{
		SystemUUID:  fmt.Sprintf("%08x-1111-2222-3333-444455556666", i+1),
		BoardSerial: fmt.Sprintf("BOARD%06d", i),
		Disks:       []string{fmt.Sprintf("DISK%06d", i)},
		MACs:        []string{fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)},
		CPU:         "Intel Core i7-8700",
		MemoryGB:    16,
		OSInstallID: fmt.Sprintf("os-install-%06d", i),
	}
}

func (f fixture) client(t testing.TB, hw echt.Hardware, dir string) *echt.Client {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	c, err := echt.NewClient(echt.Config{
		Server: f.srv.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir,
		Hardware: func(context.Context) (echt.Hardware, error) { return hw, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// 200 concurrent activations of a 5-device key from 200 devices yield
// exactly 5 activations, 20 runs in a row.
func TestSeatLimitUnderConcurrency(t *testing.T) {
	runs := 20
	if testing.Short() {
		runs = 3
	}
	f := newFixture(t, "volume-mak", 5, runs, nil)
	for run := 0; run < runs; run++ {
		var ok, full atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := f.client(t, device(run*1000+i), "")
				_, err := c.Activate(context.Background(), f.keys[run])
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, problem.ErrActivationLimit):
					full.Add(1)
				default:
					t.Errorf("activate: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 5 || full.Load() != 195 {
			t.Fatalf("run %d: %d activated, %d refused; want 5 and 195", run, ok.Load(), full.Load())
		}
	}
}

// The scenario table of docs/hardware.md through the real API: activate,
// change the hardware, activate again with the same retail key.
func TestHardwareScenariosThroughAPI(t *testing.T) {
	scenarios := []struct {
		name   string
		change func(h *echt.Hardware)
		same   bool
	}{
		{"RAM upgrade", func(h *echt.Hardware) { h.MemoryGB = 64 }, true},
		{"disk swap", func(h *echt.Hardware) { h.Disks = []string{"NEWDISK"} }, true},
		{"NIC swap", func(h *echt.Hardware) { h.MACs = []string{"02:aa:bb:cc:dd:ee"} }, true},
		{"RAM and disk", func(h *echt.Hardware) { h.MemoryGB = 64; h.Disks = []string{"NEWDISK"} }, true},
		{"disk and NIC", func(h *echt.Hardware) { h.Disks = []string{"NEWDISK"}; h.MACs = []string{"02:aa:bb:cc:dd:ee"} }, false},
		{"new motherboard", func(h *echt.Hardware) {
			h.SystemUUID = "deadbeef-0000-0000-0000-000000000001"
			h.BoardSerial = "NEWBOARD"
		}, false},
		{"cloned VM", func(h *echt.Hardware) {
			h.SystemUUID = "deadbeef-0000-0000-0000-000000000002"
			h.MACs = []string{"02:aa:bb:cc:dd:ef"}
		}, false},
		{"OS reinstall", func(h *echt.Hardware) { h.OSInstallID = "reinstalled" }, true},
	}
	f := newFixture(t, "retail", 1, len(scenarios), nil)
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			hw := device(i)
			first, err := f.client(t, hw, "").Activate(context.Background(), f.keys[i])
			if err != nil {
				t.Fatal(err)
			}
			sc.change(&hw)
			again, err := f.client(t, hw, "").Activate(context.Background(), f.keys[i])
			if sc.same {
				if err != nil || again.Reason != problem.AlreadyActivated || again.ActivationID != first.ActivationID {
					t.Fatalf("same device: got %+v, %v", again, err)
				}
			} else if !errors.Is(err, problem.ErrKeyInUseElsewhere) {
				t.Fatalf("new device: got %+v, %v; want KEY_IN_USE_ELSEWHERE", again, err)
			}
		})
	}
}

// A device whose components changed beyond the tolerance, and that still
// holds its license, activates again with its own retail key, or releases
// the seat; another system board holding the copied license does neither.
func TestActivateAgainAfterHardwareChange(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 4, nil)
	swap := func(hw echt.Hardware) echt.Hardware {
		hw.Disks, hw.MACs = []string{"NEWDISK"}, []string{"02:aa:bb:cc:dd:ee"}
		return hw
	}

	// The same key again on the changed device: a new activation takes the
	// old one's seat.
	dir := t.TempDir()
	first, err := f.client(t, device(0), dir).Activate(ctx, f.keys[0])
	if err != nil {
		t.Fatal(err)
	}
	changed := f.client(t, swap(device(0)), dir)
	if st, err := changed.Status(ctx); err != nil || st.Reason != problem.HardwareChanged {
		t.Fatalf("status after the change = %+v, %v; want HARDWARE_CHANGED", st, err)
	}
	again, err := changed.Activate(ctx, f.keys[0])
	if err != nil || again.Reason != problem.Activated || again.ActivationID == first.ActivationID {
		t.Fatalf("activate again after the change = %+v, %v; want a new activation", again, err)
	}
	if st, err := changed.Status(ctx); err != nil || st.Status != echt.StatusGenuine {
		t.Fatalf("status after activating again = %+v, %v", st, err)
	}
	var key struct {
		ActiveActivations int `json:"active_activations"`
		Activations       []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"activations"`
	}
	adminCall(t, f.srv, "POST", "/v1/admin/keys/lookup", map[string]string{"key": f.keys[0]}, &key)
	if key.ActiveActivations != 1 {
		t.Fatalf("key after activating again: %+v; want one active activation", key)
	}
	for _, a := range key.Activations {
		if a.ID == first.ActivationID && a.Status != "deactivated" {
			t.Fatalf("the first activation is %s, want deactivated", a.Status)
		}
	}
	// A reinstall of the changed device finds the new activation.
	if a, err := f.client(t, swap(device(0)), "").Activate(ctx, f.keys[0]); err != nil || a.ActivationID != again.ActivationID {
		t.Fatalf("reinstall after activating again = %+v, %v; want %s", a, err, again.ActivationID)
	}

	// Deactivating from the changed device frees the seat.
	dir = t.TempDir()
	if _, err := f.client(t, device(1), dir).Activate(ctx, f.keys[1]); err != nil {
		t.Fatal(err)
	}
	if err := f.client(t, swap(device(1)), dir).Deactivate(ctx); err != nil {
		t.Fatalf("deactivate after the change: %v", err)
	}
	if _, err := f.client(t, device(2), "").Activate(ctx, f.keys[1]); err != nil {
		t.Fatalf("the freed key on another device: %v", err)
	}

	// Another system board with the copied license: refused both ways.
	dir = t.TempDir()
	if _, err := f.client(t, device(3), dir).Activate(ctx, f.keys[2]); err != nil {
		t.Fatal(err)
	}
	// Without its license (another store), the changed device is another
	// device to the key.
	if _, err := f.client(t, swap(device(3)), "").Activate(ctx, f.keys[2]); !errors.Is(err, problem.ErrKeyInUseElsewhere) {
		t.Fatalf("changed device without its license: %v; want KEY_IN_USE_ELSEWHERE", err)
	}
	board := device(3)
	board.SystemUUID, board.BoardSerial = "deadbeef-0000-0000-0000-000000000003", "OTHERBOARD"
	if _, err := f.client(t, board, dir).Activate(ctx, f.keys[2]); !errors.Is(err, problem.ErrKeyInUseElsewhere) {
		t.Fatalf("another board activating: %v; want KEY_IN_USE_ELSEWHERE", err)
	}
	if err := f.client(t, board, dir).Deactivate(ctx); problem.CodeOf(err) != problem.HardwareChanged {
		t.Fatalf("another board deactivating: %v; want HARDWARE_CHANGED", err)
	}

	// A clone that cannot show its board (read without administrator
	// rights), with the same OS image but other disks and network cards,
	// holding the copied license: refused both ways too.
	clone := device(3)
	clone.SystemUUID, clone.BoardSerial, clone.Disks, clone.MACs = "", "", []string{"CLONEDISK"}, []string{"02:cc:cc:cc:cc:cc"}
	if _, err := f.client(t, clone, dir).Activate(ctx, f.keys[2]); !errors.Is(err, problem.ErrKeyInUseElsewhere) {
		t.Fatalf("a clone without a readable board activating: %v; want KEY_IN_USE_ELSEWHERE", err)
	}
	if err := f.client(t, clone, dir).Deactivate(ctx); problem.CodeOf(err) != problem.HardwareChanged || !strings.Contains(err.Error(), "reports no system board") || strings.Contains(err.Error(), "another system board") {
		t.Fatalf("a clone without a readable board deactivating: %v; want HARDWARE_CHANGED saying no board was read", err)
	}

	// A board known by its serial alone (no usable UUID), indexed by its
	// two network cards, which both changed with the disk: the old
	// activation is still found by the license's anchors and released.
	dir = t.TempDir()
	serial := device(4)
	serial.SystemUUID, serial.MACs = "", []string{"02:00:00:00:04:01", "02:00:00:00:04:02"}
	first, err = f.client(t, serial, dir).Activate(ctx, f.keys[3])
	if err != nil {
		t.Fatal(err)
	}
	serial.Disks, serial.MACs = []string{"NEWDISK4"}, []string{"02:00:00:00:04:03", "02:00:00:00:04:04"}
	if a, err := f.client(t, serial, dir).Activate(ctx, f.keys[3]); err != nil || a.Reason != problem.Activated || a.ActivationID == first.ActivationID {
		t.Fatalf("activate again, board known by its serial: %+v, %v; want a new activation", a, err)
	}
}

// A store where the first use cannot be recorded is an error, not a grace
// period that restarts at every check.
func TestGraceNeedsAWritableStore(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses /proc, where no directory can be made")
	}
	f := newFixture(t, "retail", 1, 1, nil)
	c := f.client(t, device(0), "/proc/echt-no-such-dir/store")
	for range 2 {
		st, err := c.Status(context.Background())
		if problem.CodeOf(err) != problem.StoreCorrupt {
			t.Fatalf("status with an unwritable store = %+v, %v; want LOCAL_STORE_ERROR", st, err)
		}
	}
}

// A first check of a product the server does not know: an error where the
// client trusts the server already (its configured or pinned root key),
// the usual grace period where it would take the server's word on first
// use (nothing proves that answer the publisher's).
func TestFirstCheckOfAnUnknownProduct(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	c := f.client(t, device(0), "")
	if st, err := c.StatusProduct(ctx, "nosuchedit"); problem.CodeOf(err) != problem.ProductNotFound {
		t.Fatalf("status of a product the trusted server does not know = %+v, %v; want PRODUCT_NOT_FOUND", st, err)
	}
	dir := t.TempDir()
	tofu, err := echt.NewClient(echt.Config{Server: f.srv.URL, TrustOnFirstUse: true, StoreDir: dir,
		Hardware: func(context.Context) (echt.Hardware, error) { return device(0), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := tofu.StatusProduct(ctx, "nosuchedit"); err != nil || st.Status != echt.StatusGrace {
		t.Fatalf("status, trust on first use, of a product the server does not know = %+v, %v; want GRACE", st, err)
	}
}

// A product only checked during its grace period is not one the device
// holds: echt status without --product still finds the activated one.
func TestProductsSkipsGraceOnly(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	adminCall(t, f.srv, "POST", "/v1/admin/products", map[string]string{"id": "videoedit", "name": "VideoEdit"}, nil)
	dir := t.TempDir()
	c := f.client(t, device(0), dir)
	if st, err := c.StatusProduct(ctx, "videoedit"); err != nil || st.Status != echt.StatusGrace {
		t.Fatalf("status of a product never activated = %+v, %v; want GRACE", st, err)
	}

	if ps, err := c.Products(); err != nil || len(ps) != 0 {
		t.Fatalf("products before any activation = %v, %v; want none", ps, err)
	}
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	if ps, err := c.Products(); err != nil || !slices.Equal(ps, []string{"photoedit"}) {
		t.Fatalf("products = %v, %v; want [photoedit]", ps, err)
	}
	if err := c.Deactivate(ctx); err != nil {
		t.Fatal(err)
	}
	if ps, err := c.Products(); err != nil || !slices.Equal(ps, []string{"photoedit"}) {
		t.Fatalf("products after deactivating = %v, %v; want [photoedit] (held one)", ps, err)
	}
}

// The hardware salt remembered from one server is not used with another.
func TestSaltFollowsTheServer(t *testing.T) {
	ctx := context.Background()
	a, b := newFixture(t, "retail", 1, 1, nil), newFixture(t, "retail", 1, 1, nil)
	dir := t.TempDir()
	if _, err := a.client(t, device(0), dir).Activate(ctx, a.keys[0]); err != nil {
		t.Fatal(err)
	}
	saltA, err := a.client(t, device(0), dir).HardwareSalt(ctx, "photoedit")
	if err != nil {
		t.Fatal(err)
	}
	saltB, err := b.client(t, device(0), dir).HardwareSalt(ctx, "photoedit")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := b.client(t, device(0), "").HardwareSalt(ctx, "photoedit")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(saltA, saltB) || !bytes.Equal(saltB, fresh) {
		t.Fatalf("salt with server B and A's store = %x, want B's %x (A's is %x)", saltB, fresh, saltA)
	}
}

// An address that is not an echt server's API (here a path on one) is
// SERVER_UNTRUSTED for every call, with the address to check.
func TestWrongServerPath(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	c, err := echt.NewClient(echt.Config{Server: f.srv.URL + "/wrongpath", Product: "photoedit", TrustOnFirstUse: true, StoreDir: t.TempDir(),
		Hardware: func(context.Context) (echt.Hardware, error) { return device(0), nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Activate(ctx, f.keys[0])
	if problem.CodeOf(err) != problem.ServerUntrusted || !strings.Contains(err.Error(), "check the server address") {
		t.Fatalf("activate at a wrong path: %v; want SERVER_UNTRUSTED naming the address", err)
	}
}

// tofuClient is the agent's kind of client: no root key configured, the
// server's pinned on first use, in store dir.
func tofuClient(t *testing.T, srv, dir string) *echt.Client {
	t.Helper()
	c, err := echt.NewClient(echt.Config{Server: srv, Product: "photoedit", TrustOnFirstUse: true, StoreDir: dir,
		Hardware: func(context.Context) (echt.Hardware, error) { return device(0), nil }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A device that pinned one publisher's root key is refused by a server of
// another before a seat is spent, with the pinned file named.
func TestOtherPublisherRefusedBeforeActivating(t *testing.T) {
	ctx := context.Background()
	a, b := newFixture(t, "retail", 1, 1, nil), newFixture(t, "retail", 1, 1, nil)
	dir := t.TempDir()
	tofu := func(srv string) *echt.Client { return tofuClient(t, srv, dir) }
	if _, err := tofu(a.srv.URL).Activate(ctx, a.keys[0]); err != nil {
		t.Fatal(err)
	}
	_, err := tofu(b.srv.URL).Activate(ctx, b.keys[0])
	if problem.CodeOf(err) != problem.ServerUntrusted || !strings.Contains(echt.Hint(err), "trusted-root.json") {
		t.Fatalf("activate at another publisher's server: %v (hint %q); want SERVER_UNTRUSTED naming the pinned file", err, echt.Hint(err))
	}
	var key struct {
		ActiveActivations int `json:"active_activations"`
	}
	adminCall(t, b.srv, "POST", "/v1/admin/keys/lookup", map[string]string{"key": b.keys[0]}, &key)
	if key.ActiveActivations != 0 {
		t.Fatalf("the refused activation spent a seat: %+v", key)
	}
}

// Only a license pins the server's root key: a wrong server tried first
// (a key it does not know, a product it does not have) pins nothing, and
// the right server then activates.
func TestFailedActivationPinsNothing(t *testing.T) {
	ctx := context.Background()
	right, wrong := newFixture(t, "retail", 1, 1, nil), newFixture(t, "retail", 1, 1, nil)
	dir := t.TempDir()
	tofu := func(srv string) *echt.Client { return tofuClient(t, srv, dir) }
	if _, err := tofu(wrong.srv.URL).Activate(ctx, right.keys[0]); problem.CodeOf(err) != problem.KeyInvalid {
		t.Fatalf("another publisher's key at the wrong server: %v; want KEY_INVALID", err)
	}
	c := tofu(wrong.srv.URL)
	if _, err := c.RootKeyID(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ActivateDigital(ctx); problem.CodeOf(err) != problem.NoDigitalLicense {
		t.Fatalf("digital license at the wrong server: %v; want NO_DIGITAL_LICENSE", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "trusted-root.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failed activations pinned a root key: %v", err)
	}
	if _, err := tofu(right.srv.URL).Activate(ctx, right.keys[0]); err != nil {
		t.Fatalf("the right server after a wrong one: %v (hint %q)", err, echt.Hint(err))
	}
	if _, err := os.Stat(filepath.Join(dir, "trusted-root.json")); err != nil {
		t.Fatalf("the activation pinned no root key: %v", err)
	}
	if _, err := tofu(wrong.srv.URL).Activate(ctx, wrong.keys[0]); problem.CodeOf(err) != problem.ServerUntrusted {
		t.Fatalf("another publisher after an activation: %v; want SERVER_UNTRUSTED", err)
	}
	// The pin is remade from a license the server's key verifies.
	if err := os.Remove(filepath.Join(dir, "trusted-root.json")); err != nil {
		t.Fatal(err)
	}
	if st, err := tofu(right.srv.URL).Status(ctx); err != nil || st.Status != echt.StatusGenuine {
		t.Fatalf("status with the pin deleted: %+v, %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "trusted-root.json")); err != nil {
		t.Fatalf("a verified license did not pin its root key again: %v", err)
	}
	// A damaged pin: the copy is not genuine (LICENSE_TAMPERED), and what
	// that says to do, activate again, works: the key is pinned anew.
	if err := os.WriteFile(filepath.Join(dir, "trusted-root.json"), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tofu(right.srv.URL).Status(ctx); problem.CodeOf(err) != problem.LicenseTampered || !strings.Contains(echt.Hint(err), "activate again") {
		t.Fatalf("status with the pin damaged: %v (hint %q); want LICENSE_TAMPERED, activate again", err, echt.Hint(err))
	}
	// Only an activation pins anew: a validation does not.
	if _, err := tofu(right.srv.URL).Validate(ctx); problem.CodeOf(err) != problem.LicenseTampered {
		t.Fatalf("validate with the pin damaged: %v; want LICENSE_TAMPERED", err)
	}
	// Showing the device's profile (echt hwid) needs no trusted answer.
	if salt, err := tofu(right.srv.URL).HardwareSalt(ctx, "photoedit"); err != nil || len(salt) == 0 {
		t.Fatalf("hardware salt with the pin damaged: %x, %v", salt, err)
	}
	// An activation that fails re-pins nothing, and the same Client's
	// checks afterwards still find the file damaged.
	same := tofu(right.srv.URL)
	if _, err := same.Activate(ctx, wrong.keys[0]); problem.CodeOf(err) != problem.KeyInvalid {
		t.Fatalf("another publisher's key with the pin damaged: %v; want KEY_INVALID", err)
	}
	if _, err := same.Status(ctx); problem.CodeOf(err) != problem.LicenseTampered {
		t.Fatalf("status after a failed activation with the pin damaged: %v; want LICENSE_TAMPERED", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "trusted-root.json")); string(b) != "garbage\n" {
		t.Fatalf("a failed activation rewrote the damaged pin: %q", b)
	}
	if a, err := tofu(right.srv.URL).ActivateDigital(ctx); err != nil || a.Reason != problem.DigitalLicense {
		t.Fatalf("activate again with the pin damaged: %+v, %v (hint %q); want DIGITAL_LICENSE", a, err, echt.Hint(err))
	}
	if st, err := tofu(right.srv.URL).Status(ctx); err != nil || !st.Genuine() {
		t.Fatalf("status after activating again: %+v, %v", st, err)
	}
}

func TestOfflineStatusReasons(t *testing.T) {
	f := newFixture(t, "subscription", 1, 1, map[string]int{"valid_days": 30})
	ctx := context.Background()
	hw := device(1)
	dir := t.TempDir()
	var now atomic.Pointer[time.Time]
	t0 := time.Now()
	now.Store(&t0)
	mk := func(hw echt.Hardware) *echt.Client {
		c, err := echt.NewClient(echt.Config{Server: f.srv.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir,
			Hardware: func(context.Context) (echt.Hardware, error) { return hw, nil }, Now: func() time.Time { return *now.Load() }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := mk(hw)
	st, err := c.Status(ctx)
	if err != nil || st.Status != echt.StatusGrace || st.Reason != problem.GracePeriod {
		t.Fatalf("before activation: %+v, %v", st, err)
	}
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	expect := func(name string, c *echt.Client, status string, reason problem.Code) {
		t.Helper()
		st, err := c.Status(ctx)
		if err != nil || st.Status != status || st.Reason != reason {
			t.Fatalf("%s: status = %+v, %v; want %s %s", name, st, err, status, reason)
		}
	}
	expect("activated", c, echt.StatusGenuine, problem.Genuine)
	licPath := filepath.Join(dir, "photoedit", "license.json")
	orig, _ := os.ReadFile(licPath)

	// A changed byte.
	tampered := bytes.Clone(orig)
	i := bytes.Index(tampered, []byte(`"payload":"`)) + 20
	tampered[i] ^= 1
	os.WriteFile(licPath, tampered, 0o600)
	expect("changed byte", c, echt.StatusNotGenuine, problem.LicenseTampered)
	os.WriteFile(licPath, orig, 0o600)
	expect("restored", c, echt.StatusGenuine, problem.Genuine)

	// Deleted.
	os.Remove(licPath)
	expect("deleted", c, echt.StatusNotGenuine, problem.LicenseMissing)
	os.WriteFile(licPath, orig, 0o600)

	// Corrupted state file.
	statePath := filepath.Join(dir, "photoedit", "state.json")
	stOrig, _ := os.ReadFile(statePath)
	os.WriteFile(statePath, stOrig[:len(stOrig)/2], 0o600)
	expect("corrupt state", c, echt.StatusNotGenuine, problem.LicenseTampered)
	os.WriteFile(statePath, stOrig, 0o600)
	expect("state restored", c, echt.StatusGenuine, problem.Genuine)

	// Another device with this license.
	other := device(2)
	expect("copied to another device", mk(other), echt.StatusNotGenuine, problem.HardwareChanged)

	// The clock set back two hours.
	back := t0.Add(-2 * time.Hour)
	now.Store(&back)
	expect("clock back", c, echt.StatusNotGenuine, problem.ClockTampered)

	// Expired: 31 days later.
	later := t0.Add(31 * 24 * time.Hour)
	now.Store(&later)
	expect("expired", c, echt.StatusNotGenuine, problem.LicenseExpired)
}

// A server without the publisher's root key is detected: its licenses and
// its signed errors do not verify.
func TestFakeServerDetected(t *testing.T) {
	real := newFixture(t, "retail", 1, 1, nil)
	fake := newFixture(t, "retail", 1, 1, nil)
	ctx := context.Background()
	c, err := echt.NewClient(echt.Config{Server: fake.srv.URL, Product: "photoedit", RootKey: real.srv.Keyring.RootPublic(), StoreDir: t.TempDir(),
		Hardware: func(context.Context) (echt.Hardware, error) { return device(3), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Activate(ctx, fake.keys[0]); !errors.Is(err, problem.ErrServerUntrusted) {
		t.Fatalf("license from a fake server: %v, want SERVER_UNTRUSTED", err)
	}
	if _, err := c.Activate(ctx, real.keys[0]); !errors.Is(err, problem.ErrServerUntrusted) {
		t.Fatalf("error from a fake server: %v, want SERVER_UNTRUSTED", err)
	}
	// A server in between that passes on the publisher's keys but answers
	// a product's hardware salt itself (for a key, or for a digital
	// license) is refused before any activation is sent.
	var activations atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/activations":
			activations.Add(1)
		case "/v1/products/photoedit", "/v1/keys/product":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"photoedit","name":"PhotoEdit","hardware_salt":"AAAAAAAAAAAAAAAAAAAAAA=="}` + "\n"))
			return
		}
		forward(w, r, real.srv.URL)
	}))
	defer proxy.Close()
	c, err = echt.NewClient(echt.Config{Server: proxy.URL, Product: "photoedit", RootKey: real.srv.Keyring.RootPublic(), StoreDir: t.TempDir(),
		Hardware: func(context.Context) (echt.Hardware, error) { return device(3), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ActivateProduct(ctx, real.keys[0], ""); !errors.Is(err, problem.ErrServerUntrusted) {
		t.Errorf("a key's product answered by another server: %v, want SERVER_UNTRUSTED", err)
	}
	if _, err := c.ActivateDigital(ctx); !errors.Is(err, problem.ErrServerUntrusted) {
		t.Errorf("a product's salt answered by another server: %v, want SERVER_UNTRUSTED", err)
	}
	if n := activations.Load(); n != 0 {
		t.Errorf("%d activations sent after the fake server's unverifiable product answers, want 0", n)
	}
}

// A recorded answer replayed to another request is refused (old nonce).
func TestReplayedActivationRefused(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	var mu sync.Mutex
	var recorded []byte
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		rec := recorded
		mu.Unlock()
		if r.URL.Path == "/v1/activations" && rec != nil {
			w.Header().Set("Content-Type", "application/json")
			w.Write(rec)
			return
		}
		body := forward(w, r, f.srv.URL)
		if r.URL.Path == "/v1/activations" {
			mu.Lock()
			recorded = body
			mu.Unlock()
		}
	}))
	defer proxy.Close()
	mk := func() *echt.Client {
		c, _ := echt.NewClient(echt.Config{Server: proxy.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: t.TempDir(),
			Hardware: func(context.Context) (echt.Hardware, error) { return device(4), nil }})
		return c
	}
	if _, err := mk().Activate(context.Background(), f.keys[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := mk().Activate(context.Background(), f.keys[0]); !errors.Is(err, problem.ErrServerUntrusted) {
		t.Fatalf("replayed answer: %v, want SERVER_UNTRUSTED", err)
	}
}

// After a keyring rotation new licenses carry the new key id and licenses
// signed before still verify.
func TestRotationKeepsLicensesValid(t *testing.T) {
	f := newFixture(t, "volume-mak", 10, 1, nil)
	ctx := context.Background()
	dirA := t.TempDir()
	a := f.client(t, device(1), dirA)
	before, err := a.Activate(ctx, f.keys[0])
	if err != nil {
		t.Fatal(err)
	}
	var rotated struct {
		KeyID string `json:"kid"`
	}
	adminCall(t, f.srv, "POST", "/v1/admin/keyring/rotate", map[string]string{}, &rotated)
	after, err := f.client(t, device(2), "").Activate(ctx, f.keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if before.License.KeyID == after.License.KeyID || after.License.KeyID != rotated.KeyID {
		t.Fatalf("kids before %s, after %s, rotated %s", before.License.KeyID, after.License.KeyID, rotated.KeyID)
	}
	st, err := f.client(t, device(1), dirA).Status(ctx)
	if err != nil || !st.Genuine() {
		t.Fatalf("license signed before rotation: %+v, %v", st, err)
	}
}

// The SDK must not pull in database drivers or server packages.
func TestSDKImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, forbidden := range []string{"modernc.org/sqlite", "github.com/jackc/pgx", "internal/store", "internal/httpapi", "internal/keyring", "internal/activation", "prometheus"} {
		for _, dep := range strings.Fields(string(out)) {
			if strings.Contains(dep, forbidden) {
				t.Errorf("the SDK imports %s", dep)
			}
		}
	}
}

func BenchmarkOfflineStatus(b *testing.B) {
	f := newFixture(b, "retail", 1, 1, nil)
	c := f.client(b, device(1), "")
	ctx := context.Background()
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		b.Fatal(err)
	}
	if st, err := c.Status(ctx); err != nil || !st.Genuine() {
		b.Fatal(st, err)
	}
	b.ResetTimer()
	for b.Loop() {
		if st, err := c.Status(ctx); err != nil || !st.Genuine() {
			b.Fatal(st, err)
		}
	}
}

// A recorded verdict replayed to a later validation is refused (old nonce).
func TestReplayedVerdictRefused(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	var mu sync.Mutex
	var recorded []byte
	var replay bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		rec, rep := recorded, replay
		mu.Unlock()
		if r.URL.Path == "/v1/validations" && rep {
			w.Header().Set("Content-Type", "application/json")
			w.Write(rec)
			return
		}
		body := forward(w, r, f.srv.URL)
		if r.URL.Path == "/v1/validations" {
			mu.Lock()
			recorded = body
			mu.Unlock()
		}
	}))
	defer proxy.Close()
	dir := t.TempDir()
	c, _ := echt.NewClient(echt.Config{Server: proxy.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir,
		Hardware: func(context.Context) (echt.Hardware, error) { return device(5), nil }})
	ctx := context.Background()
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	st, err := c.Validate(ctx)
	if err != nil || !st.Genuine() || !st.Online {
		t.Fatalf("first validation = %+v, %v", st, err)
	}
	mu.Lock()
	replay = true
	mu.Unlock()
	// A replayed verdict is no answer: the offline check stands.
	if st, err := c.Validate(ctx); err != nil || st.Online || !st.Genuine() || !strings.Contains(st.ServerError, "replayed") {
		t.Fatalf("replayed verdict: %+v, %v; want the offline status with the replay in ServerError", st, err)
	}
}

// A network that alters a validation request on its way (another device's
// hardware, a damaged license) gets the real server to sign a verdict
// against it, for the client's own nonce: the client refuses a verdict
// about what it did not send, and keeps its offline status.
func TestAlteredValidationRequestRefused(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	var alter atomic.Value
	alter.Store("")
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if how := alter.Load().(string); how != "" && r.URL.Path == "/v1/validations" {
			var req map[string]any
			_ = json.NewDecoder(r.Body).Decode(&req)
			switch how {
			case "hardware":
				req["hardware"].(map[string]any)["system_uuid"] = strings.Repeat("ab", 16)
			case "license":
				req["license"].(map[string]any)["sig"] = "AAAA"
			}
			b, _ := json.Marshal(req)
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.ContentLength = int64(len(b))
		}
		forward(w, r, f.srv.URL)
	}))
	defer proxy.Close()
	c, _ := echt.NewClient(echt.Config{Server: proxy.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: t.TempDir(),
		Hardware: func(context.Context) (echt.Hardware, error) { return device(7), nil }})
	ctx := context.Background()
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"hardware", "license"} {
		alter.Store(how)
		st, err := c.Validate(ctx)
		if err != nil || st.Online || !st.Genuine() || !strings.Contains(st.ServerError, "altered") {
			t.Fatalf("validation with the %s altered on the way: %+v, %v; want the offline GENUINE status, the refusal in ServerError", how, st, err)
		}
		if st, err := c.Status(ctx); err != nil || !st.Genuine() {
			t.Fatalf("offline after the altered %s: %+v, %v; want GENUINE (nothing stored)", how, st, err)
		}
	}
	alter.Store("")
	if st, err := c.Validate(ctx); err != nil || !st.Online || !st.Genuine() {
		t.Fatalf("validation through an honest proxy: %+v, %v", st, err)
	}
}

// A license of another product does not make this product genuine.
func TestLicenseOfAnotherProductRefused(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	adminCall(t, f.srv, "POST", "/v1/admin/products", map[string]string{"id": "other", "name": "Other"}, nil)
	dir := t.TempDir()
	ctx := context.Background()
	c := f.client(t, device(6), dir)
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	// Copy photoedit's license files to where "other" keeps its own.
	os.MkdirAll(filepath.Join(dir, "other"), 0o700)
	for _, name := range []string{"license.json", "state.json"} {
		b, _ := os.ReadFile(filepath.Join(dir, "photoedit", name))
		os.WriteFile(filepath.Join(dir, "other", name), b, 0o600)
	}
	st, err := c.StatusProduct(ctx, "other")
	if err != nil || st.Genuine() || st.Status != echt.StatusNotGenuine || st.Reason != problem.ProductMismatch {
		t.Fatalf("another product's license: %+v, %v; want NOT_GENUINE, PRODUCT_MISMATCH", st, err)
	}
}

// Download services accept genuine tickets and nothing else.
func TestGenuineTicket(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	ctx := context.Background()
	c := f.client(t, device(7), "")
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	st, err := c.Validate(ctx)
	if err != nil || !st.Genuine() || len(st.Ticket) == 0 {
		t.Fatalf("validate = %+v, %v", st, err)
	}
	tv := echt.NewTicketVerifier(f.srv.Keyring.RootPublic())
	now := time.Now()
	if _, err := tv.Verify(st.Ticket, "photoedit", now); err != nil {
		t.Fatalf("ticket refused: %v", err)
	}
	if _, err := tv.Verify(st.Ticket, "other", now); !errors.Is(err, echt.ErrWrongProduct) {
		t.Fatalf("ticket for another product: %v", err)
	}
	if _, err := tv.Verify(st.Ticket, "photoedit", now.Add(2*time.Hour)); !errors.Is(err, echt.ErrTicketExpired) {
		t.Fatalf("expired ticket: %v", err)
	}
	stranger := newFixture(t, "retail", 1, 1, nil)
	if _, err := echt.NewTicketVerifier(stranger.srv.Keyring.RootPublic()).Verify(st.Ticket, "photoedit", now); !errors.Is(err, echt.ErrTicketInvalid) {
		t.Fatalf("ticket of another publisher: %v", err)
	}
	// One line of error, and a verifier given no usable key says so.
	if _, err := echt.NewTicketVerifier(stranger.srv.Keyring.RootPublic()).Verify(st.Ticket, "photoedit", now); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("ticket of another publisher: %q; want a one-line error", err)
	}
	if _, err := echt.NewTicketVerifier([]byte("short")).Verify(st.Ticket, "photoedit", now); !errors.Is(err, echt.ErrTicketInvalid) || !strings.Contains(err.Error(), "no root key") {
		t.Errorf("verifier of a malformed key: %v; want ErrTicketInvalid saying it holds no root key", err)
	}
	tampered := bytes.Replace(st.Ticket, []byte(`"sig":"`), []byte(`"sig":"A`), 1)
	if _, err := tv.Verify(tampered, "photoedit", now); err == nil {
		t.Fatal("tampered ticket accepted")
	}
	// The ticket is stored and can be handed to a download service.
	if tk, err := c.Ticket(ctx, "photoedit"); err != nil || !bytes.Equal(tk, st.Ticket) {
		t.Fatalf("Ticket = %v", err)
	}
	// A blocked key's verdict is no ticket.
	adminCall(t, f.srv, "POST", "/v1/admin/keys/block", map[string]string{"key": f.keys[0], "reason": "leaked"}, nil)
	time.Sleep(50 * time.Millisecond) // the cache invalidation is asynchronous
	st, err = c.Validate(ctx)
	if err != nil || st.Genuine() || st.Reason != problem.KeyBlocked || len(st.Ticket) != 0 {
		t.Fatalf("validate after block = %+v, %v", st, err)
	}
	if _, err := c.Ticket(ctx, "photoedit"); err == nil {
		t.Fatal("a ticket survived the block")
	}
}

// BenchmarkVerifyBaseline is the floor of an offline check: one Ed25519
// signature verification, measured in the same run as BenchmarkOfflineStatus.
func BenchmarkVerifyBaseline(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 900)
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
	}
}

// A proxy or fake server that answers with a status proxies use (429, 502,
// 503, 504) cannot put a verdict in the publisher's mouth: an unsigned such
// answer only says "try again later", and a deactivation keeps its license.
func TestUnsignedTransientAnswersSayOnlyWait(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	ctx := context.Background()
	var forge atomic.Value // "" passes through, else "status code"
	forge.Store("")
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if spec := forge.Load().(string); spec == "200 ECHO" && r.Method == "POST" {
			// A fake deactivation: 200 with the request's own nonce.
			var req struct{ Nonce string }
			json.NewDecoder(r.Body).Decode(&req)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"activation_id":"act_x","status":"deactivated","nonce":%q}`, req.Nonce)
			return
		}
		if spec := forge.Load().(string); spec != "" && r.Method == "POST" {
			var status int
			var code string
			fmt.Sscanf(spec, "%d %s", &status, &code)
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"code":%q,"detail":"counterfeit: buy at evil.example","block_reason":"counterfeit","hint":"visit evil.example"}`, code)
			return
		}
		forward(w, r, f.srv.URL)
	}))
	defer proxy.Close()
	c, err := echt.NewClient(echt.Config{Server: proxy.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: t.TempDir(),
		Hardware: func(context.Context) (echt.Hardware, error) { return device(4), nil }})
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{"503 KEY_BLOCKED", "429 KEY_BLOCKED", "502 ACTIVATION_LIMIT_REACHED"} {
		forge.Store(spec)
		_, err := c.Activate(ctx, f.keys[0])
		var pe *problem.Error
		if !errors.As(err, &pe) || (pe.Code != problem.Unavailable && pe.Code != problem.RateLimited) || strings.Contains(pe.Detail, "evil") || pe.Extra != nil || pe.RetryAfter != 7*time.Second {
			t.Errorf("unsigned %s: %#v, want only UNAVAILABLE or RATE_LIMITED with Retry-After", spec, err)
		}
	}
	forge.Store("")
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	forge.Store("429 ACTIVATION_NOT_FOUND")
	if err := c.Deactivate(ctx); problem.CodeOf(err) != problem.RateLimited {
		t.Fatalf("deactivate with a forged 429 = %v, want RATE_LIMITED", err)
	}
	forge.Store("200 ECHO")
	if err := c.Deactivate(ctx); problem.CodeOf(err) != problem.ServerUntrusted {
		t.Fatalf("deactivate with an unsigned 200 = %v, want SERVER_UNTRUSTED", err)
	}
	forge.Store("")
	if st, err := c.Status(ctx); err != nil || st.Status != echt.StatusGenuine {
		t.Fatalf("after the forged answers the license must still be here: %+v, %v", st, err)
	}
	// The publisher's own answer is signed, and accepted.
	if err := c.Deactivate(ctx); err != nil {
		t.Fatalf("deactivate through an honest proxy: %v", err)
	}
}

// A fake answer on the endpoints a client reads before it activates (the
// signing keys, the product's salt) cannot tell a user that a key is
// blocked: unsigned errors there are SERVER_UNTRUSTED too, and the
// publisher's own signed PRODUCT_NOT_FOUND still comes through.
func TestUnsignedErrorsBeforeActivation(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	ctx := context.Background()
	var forge atomic.Value // the path answered with a fake 403 KEY_BLOCKED
	forge.Store("")
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := forge.Load().(string); p != "" && r.URL.Path == p {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"code":"KEY_BLOCKED","status":403,"detail":"FAKE: this product key was reported as counterfeit"}`)
			return
		}
		forward(w, r, f.srv.URL)
	}))
	defer proxy.Close()
	client := func(product string) *echt.Client {
		c, err := echt.NewClient(echt.Config{Server: proxy.URL, Product: product, RootKey: f.srv.Keyring.RootPublic(), StoreDir: t.TempDir(),
			Hardware: func(context.Context) (echt.Hardware, error) { return device(4), nil }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, path := range []string{"/v1/signing-keys", "/v1/products/photoedit"} {
		forge.Store(path)
		_, err := client("photoedit").Activate(ctx, f.keys[0])
		if problem.CodeOf(err) != problem.ServerUntrusted || strings.Contains(err.Error(), "FAKE") {
			t.Errorf("fake KEY_BLOCKED on %s: %v; want SERVER_UNTRUSTED", path, err)
		}
	}
	forge.Store("")
	if _, err := client("nosuchproduct").Activate(ctx, f.keys[0]); problem.CodeOf(err) != problem.ProductNotFound {
		t.Fatalf("the server's own signed answer for an unknown product: %v; want PRODUCT_NOT_FOUND", err)
	}
	if _, err := client("photoedit").Activate(ctx, f.keys[0]); err != nil {
		t.Fatalf("activate through an honest proxy: %v", err)
	}
}

// A copy never activated judges its grace period at the latest time it
// saw: a clock set back does not stretch the period, and a clock that ran
// ahead and was put right is not CLOCK_TAMPERED (there is no license to
// protect, and nothing to gain).
func TestGraceAndTheClock(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	ctx := context.Background()
	t0 := time.Now()
	var now atomic.Pointer[time.Time]
	now.Store(&t0)
	c, err := echt.NewClient(echt.Config{Server: f.srv.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: t.TempDir(), GraceDays: 30,
		Hardware: func(context.Context) (echt.Hardware, error) { return device(7), nil },
		Now:      func() time.Time { return *now.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) *echt.Status {
		t.Helper()
		tm := t0.Add(d)
		now.Store(&tm)
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := at(0)
	if first.Status != echt.StatusGrace || first.GraceUntil.IsZero() {
		t.Fatalf("first run: %+v", first)
	}
	// Three hours ahead, then put right.
	at(3 * time.Hour)
	if st := at(0); st.Status != echt.StatusGrace || st.Reason != problem.GracePeriod || !st.GraceUntil.Equal(first.GraceUntil) {
		t.Fatalf("clock put right: %s %s until %v; want GRACE until %v", st.Status, st.Reason, st.GraceUntil, first.GraceUntil)
	}
	// Past the grace period, then set back ten days: still over.
	if st := at(31 * 24 * time.Hour); st.Status != echt.StatusNotActivated {
		t.Fatalf("day 31: %s %s", st.Status, st.Reason)
	}
	if st := at(21 * 24 * time.Hour); st.Status != echt.StatusNotActivated || st.Reason != problem.NotActivated {
		t.Fatalf("day 31 set back to day 21: %s %s; want NOT_ACTIVATED", st.Status, st.Reason)
	}
}

// A clock that ran ahead once and was put right is not held against the
// copy for ever: the server's signed time vouches for the corrected clock.
func TestClockPutRight(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	ctx := context.Background()
	c, now, t0 := activatedWithClock(t, f, f.srv.URL, 5)
	ahead := t0.Add(7 * 24 * time.Hour)
	now.Store(&ahead)
	if st, err := c.Status(ctx); err != nil || st.Status != echt.StatusGenuine {
		t.Fatalf("clock ahead: %+v, %v", st, err)
	}
	now.Store(&t0)
	if st, err := c.Status(ctx); err != nil || st.Reason != problem.ClockTampered {
		t.Fatalf("clock put right, offline: %+v, %v; want CLOCK_TAMPERED until the server vouches", st, err)
	}
	if st, err := c.Validate(ctx); err != nil || st.Status != echt.StatusGenuine || !st.Online {
		t.Fatalf("clock put right, online: %+v, %v; want GENUINE", st, err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Status != echt.StatusGenuine {
		t.Fatalf("offline after the server vouched: %+v, %v", st, err)
	}
	// The offline check knows when the last verdict asked to check again.
	if st.NextCheck.IsZero() || !st.RevalidateAfter.Equal(st.NextCheck) {
		t.Fatalf("offline status after a verdict: next check %v, revalidate after %v", st.NextCheck, st.RevalidateAfter)
	}
}

// One Client serves concurrent checks (run with -race).
func TestClientConcurrentChecks(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	ctx := context.Background()
	c, now, _ := activatedWithClock(t, f, f.srv.URL, 6)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if g == 0 && i%5 == 0 {
					next := now.Load().Add(2 * time.Minute) // past the state's write interval
					now.Store(&next)
				}
				var err error
				if i%4 == 0 {
					_, err = c.Validate(ctx)
				} else {
					_, err = c.Status(ctx)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Validations of many devices at once each get the server's verdict about
// their own license, device and request: the server lends and reuses the
// buffers of requests and answers, and none may leak into another's.
func TestConcurrentValidationsOfManyDevices(t *testing.T) {
	const devices, rounds = 12, 15
	f := newFixture(t, "retail", devices, 1, nil)
	ctx := context.Background()
	clients := make([]*echt.Client, devices)
	for i := range clients {
		clients[i] = f.client(t, device(i), "")
		if _, err := clients[i].Activate(ctx, f.keys[0]); err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				st, err := c.Validate(ctx)
				if err != nil {
					t.Errorf("device %d: %v", i, err)
					return
				}
				if !st.Online || st.Status != "GENUINE" || st.ServerError != "" || st.ActivationID != c.ActivationOf("photoedit") {
					t.Errorf("device %d: online %v, %s %s, server error %q, activation %s (want %s)", i, st.Online, st.Status, st.Reason, st.ServerError, st.ActivationID, c.ActivationOf("photoedit"))
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Watch reminds while a copy is not activated, escalates after the
// escalation period (also without a recorded start), and takes a nil
// callback as none.
func TestWatchRemindsAndEscalates(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	var clock atomic.Int64 // nanoseconds; each reading moves it on 20 ms
	clock.Store(time.Now().UnixNano())
	c, err := echt.NewClient(echt.Config{Server: f.srv.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: t.TempDir(),
		Hardware: func(context.Context) (echt.Hardware, error) { return device(7), nil },
		Now:      func() time.Time { return time.Unix(0, clock.Add(int64(20*time.Millisecond))) }})
	if err != nil {
		t.Fatal(err)
	}
	// The first run starts the grace period; sixty days later it is over.
	first, err := c.Status(context.Background())
	if err != nil || first.Status != echt.StatusGrace {
		t.Fatalf("first run: %+v, %v", first, err)
	}
	clock.Add(int64(60 * 24 * time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	var got []echt.Reminder
	err = c.Watch(ctx, "photoedit", echt.WatchOptions{Interval: time.Millisecond, EscalateAfter: 100 * time.Millisecond}, func(r echt.Reminder) {
		got = append(got, r)
		if len(got) == 20 {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Status.Status != echt.StatusNotActivated || got[0].Count != 1 || !got[19].Escalated || got[19].Count != 20 {
		t.Fatalf("reminders: first %+v, last %+v", got[0], got[19])
	}
	// Escalation counts from the end of the grace period (30 days ago),
	// not from the start of each watch: an application restarted more
	// often than the escalation period still escalates.
	for _, tc := range []struct {
		later     time.Duration
		escalated bool
	}{{0, false}, {15 * 24 * time.Hour, true}} {
		clock.Add(int64(tc.later))
		ctx, cancel := context.WithCancel(context.Background())
		var first echt.Reminder
		if err := c.Watch(ctx, "photoedit", echt.WatchOptions{Interval: time.Millisecond, EscalateAfter: 40 * 24 * time.Hour}, func(r echt.Reminder) {
			first = r
			cancel()
		}); err != nil {
			t.Fatal(err)
		}
		if first.Count != 1 || first.Escalated != tc.escalated {
			t.Fatalf("%v later: first reminder %+v, want escalated %v", tc.later, first, tc.escalated)
		}
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := c.Watch(ctx2, "photoedit", echt.WatchOptions{Interval: time.Millisecond}, nil); err != nil {
		t.Fatal(err)
	}
}

// A running Client notices a license file changed in place even when its
// size and modification time were put back.
func TestEditWithMtimeRestoredNoticed(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no inode change time on Windows")
	}
	f := newFixture(t, "retail", 1, 1, nil)
	ctx := context.Background()
	dir := t.TempDir()
	c, err := echt.NewClient(echt.Config{Server: f.srv.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir,
		Hardware: func(context.Context) (echt.Hardware, error) { return device(8), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(ctx); err != nil || !st.Genuine() {
		t.Fatalf("status = %+v, %v", st, err)
	}
	path := filepath.Join(dir, "photoedit", "license.json")
	fi, _ := os.Stat(path)
	b, _ := os.ReadFile(path)
	i := bytes.Index(b, []byte(`"payload":"`)) + 20
	b[i] ^= 1
	time.Sleep(10 * time.Millisecond) // a later inode change time
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	if st, err := c.Status(ctx); err != nil || st.Reason != problem.LicenseTampered {
		t.Fatalf("after an edit with the time put back: %+v, %v", st, err)
	}
}

// During an outage Watch asks the server once, then backs off (two hours),
// instead of at every reminder.
func TestWatchBacksOffDuringOutage(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	var down atomic.Bool
	var validations atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/validations" {
			validations.Add(1)
			if down.Load() {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
		}
		forward(w, r, f.srv.URL)
	}))
	defer proxy.Close()
	c, now, t0 := activatedWithClock(t, f, proxy.URL, 9)
	ctx := context.Background()
	if _, err := c.Validate(ctx); err != nil {
		t.Fatal(err)
	}
	due := t0.Add(25 * time.Hour) // the verdict's next check is past
	now.Store(&due)
	down.Store(true)
	validations.Store(0)
	wctx, cancel := context.WithCancel(ctx)
	checks := 0
	if err := c.Watch(wctx, "photoedit", echt.WatchOptions{Interval: time.Millisecond, OnCheck: func(*echt.Status) {
		if checks++; checks == 30 {
			cancel()
		}
	}}, nil); err != nil {
		t.Fatal(err)
	}
	if n := validations.Load(); n != 1 {
		t.Fatalf("%d validation requests in 30 checks during an outage, want 1", n)
	}
}

// forward is a transparent proxy to target: it sends r on and copies the
// answer back, and returns the answer's body.
func forward(w http.ResponseWriter, r *http.Request, target string) []byte {
	req, _ := http.NewRequest(r.Method, target+r.URL.Path, r.Body)
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
	return body
}

// activatedWithClock returns a client of server, activated with f's first
// key on device d, whose clock reads now (set to t0 at first).
func activatedWithClock(t *testing.T, f fixture, server string, d int) (c *echt.Client, now *atomic.Pointer[time.Time], t0 time.Time) {
	t.Helper()
	now = new(atomic.Pointer[time.Time])
	t0 = time.Now()
	now.Store(&t0)
	c, err := echt.NewClient(echt.Config{Server: server, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: t.TempDir(),
		Hardware: func(context.Context) (echt.Hardware, error) { return device(d), nil }, Now: func() time.Time { return *now.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Activate(context.Background(), f.keys[0]); err != nil {
		t.Fatal(err)
	}
	return c, now, t0
}

// readOnly makes dir unwritable for this process (chmod, or for root the
// immutable attribute), or skips the test where neither works.
func readOnly(t *testing.T, dir string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("uses chmod or chattr on Linux")
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if f, err := os.CreateTemp(dir, "probe"); err == nil {
		// root: chmod does not stop it.
		f.Close()
		os.Remove(f.Name())
		if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
			t.Skipf("cannot make %s read-only: chattr: %v %s", dir, err, out)
		}
		t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	}
}

// A store that cannot be written: validation still returns the server's
// signed verdict (with the store's error beside it), and deactivation
// refuses before the seat is released, so no verifying license of a
// released seat is left behind.
func TestUnwritableStore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	dir := t.TempDir()
	c := f.client(t, device(0), dir)
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	readOnly(t, filepath.Join(dir, "photoedit"))

	if err := f.client(t, device(0), dir).Deactivate(ctx); problem.CodeOf(err) != problem.StoreCorrupt || !strings.Contains(err.Error(), "nothing was released") {
		t.Fatalf("deactivate with a read-only store = %v; want LOCAL_STORE_ERROR before the server is asked", err)
	}
	if _, err := f.client(t, device(1), "").Activate(ctx, f.keys[0]); !errors.Is(err, problem.ErrKeyInUseElsewhere) {
		t.Fatalf("the seat moved after a refused deactivation: %v; want KEY_IN_USE_ELSEWHERE", err)
	}

	adminCall(t, f.srv, "POST", "/v1/admin/keys/block", map[string]string{"key": f.keys[0], "reason": "refunded"}, nil)
	st, err := f.client(t, device(0), dir).Validate(ctx)
	if err != nil || st.Status != echt.StatusNotGenuine || st.Reason != problem.KeyBlocked || st.StoreError == "" || !st.Online {
		t.Fatalf("validate with a read-only store = %+v, %v; want the signed NOT_GENUINE KEY_BLOCKED verdict with a store error", st, err)
	}
}

// A stored NOT_ACTIVATED verdict (the activation was deactivated through
// a copy of the store) keeps its status offline: NOT_ACTIVATED, not
// NOT_GENUINE.
func TestStoredNotActivatedVerdict(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	dir := t.TempDir()
	if _, err := f.client(t, device(0), dir).Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(copied, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := f.client(t, device(0), copied).Deactivate(ctx); err != nil {
		t.Fatal(err)
	}
	c := f.client(t, device(0), dir)
	st, err := c.Validate(ctx)
	if err != nil || st.Status != echt.StatusNotActivated || st.Reason != problem.NotActivated {
		t.Fatalf("validate = %+v, %v; want NOT_ACTIVATED", st, err)
	}
	st, err = f.client(t, device(0), dir).Status(ctx)
	if err != nil || st.Status != echt.StatusNotActivated || st.Reason != problem.NotActivated {
		t.Fatalf("offline status after the verdict = %s %s, %v; want NOT_ACTIVATED NOT_ACTIVATED", st.Status, st.Reason, err)
	}
	// The key moves on to another device; validating again asks the
	// server (a new verdict), which now knows more than the stored one.
	first := st.VerdictID
	if _, err := f.client(t, device(1), t.TempDir()).Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	st, err = f.client(t, device(0), dir).Validate(ctx)
	if err != nil || st.Status == echt.StatusGenuine || st.VerdictID == "" || st.VerdictID == first {
		t.Fatalf("validate after the key moved = %+v, %v; want a new verdict, not genuine", st, err)
	}
}

// A device where nothing identifying can be read gets the server's answer
// offline too: HARDWARE_PROFILE_INVALID, not HARDWARE_CHANGED (offline as
// a NOT_GENUINE status, so that echt watch goes on reminding).
func TestNoReadableHardware(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	dir := t.TempDir()
	if _, err := f.client(t, device(0), dir).Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	blank := echt.Hardware{CPU: "Intel Core i7-8700", MemoryGB: 16}
	if st, err := f.client(t, blank, dir).Status(ctx); err != nil || st.Status != echt.StatusNotGenuine || st.Reason != problem.HardwareProfileInvalid {
		t.Fatalf("status without readable hardware = %+v, %v; want NOT_GENUINE HARDWARE_PROFILE_INVALID", st, err)
	}
	if st, err := f.client(t, blank, dir).Validate(ctx); problem.CodeOf(err) != problem.HardwareProfileInvalid {
		t.Fatalf("validate without readable hardware = %+v, %v; want HARDWARE_PROFILE_INVALID", st, err)
	}
	for _, hw := range []echt.Hardware{blank, {}} {
		if err := f.client(t, hw, dir).Deactivate(ctx); problem.CodeOf(err) != problem.HardwareProfileInvalid {
			t.Fatalf("deactivate with %+v = %v; want HARDWARE_PROFILE_INVALID", hw, err)
		}
	}
	if st, err := f.client(t, device(0), dir).Status(ctx); err != nil || !st.Genuine() {
		t.Fatalf("status with the hardware back = %+v, %v", st, err)
	}
}

// A device that can read too little to be recognised again (one disk, say)
// is refused before a seat is spent: it could never match the license.
func TestThinProfileSpendsNoSeat(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	for _, thin := range []echt.Hardware{
		{Disks: []string{"WDC-WD10EZEX-00BN5A0"}},
		{BoardSerial: "MB-1234567"},
		{OSInstallID: "0123456789abcdef0123456789abcdef", MemoryGB: 16},
	} {
		_, err := f.client(t, thin, t.TempDir()).Activate(ctx, f.keys[0])
		if problem.CodeOf(err) != problem.HardwareProfileInvalid {
			t.Fatalf("activate with %+v: %v; want HARDWARE_PROFILE_INVALID", thin, err)
		}
	}
	// The key's one seat is still free.
	if _, err := f.client(t, device(0), t.TempDir()).Activate(ctx, f.keys[0]); err != nil {
		t.Fatalf("activate after the refusals: %v", err)
	}
}

// With the server down, Validate falls back to the offline status and says
// why in the reader's terms, without net/http's request line.
func TestServerDownFallsBackOffline(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	dir := t.TempDir()
	if _, err := f.client(t, device(0), dir).Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	c, err := echt.NewClient(echt.Config{
		Server: dead, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir,
		Hardware: func(context.Context) (echt.Hardware, error) { return device(0), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Validate(ctx)
	if err != nil || !st.Genuine() || st.Online || !strings.Contains(st.ServerError, "cannot reach the activation server at "+dead) || !strings.Contains(st.ServerError, "connection refused") || strings.Contains(st.ServerError, `Post "`) {
		t.Fatalf("validate with the server down = %+v, %v; want the offline GENUINE with a plain server error", st, err)
	}
}

// An OEM key stays with its device however other keys come and go there:
// a retail key entered again after an OEM key took its place (the repair
// case) does not end the OEM activation, so the OEM key cannot move on.
func TestOEMStaysWhenTheOriginalKeyReturns(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	adminCall(t, f.srv, "POST", "/v1/admin/skus", map[string]any{"id": "pe-oem", "product": "photoedit", "edition": "Home", "channel": "oem"}, nil)
	var batch struct{ Keys []string }
	adminCall(t, f.srv, "POST", "/v1/admin/skus/pe-oem/keys", map[string]int{"count": 1}, &batch)
	oem := batch.Keys[0]
	if _, err := f.client(t, device(0), "").Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	// A fresh store on the same PC: the OEM key comes in as a repair.
	if _, err := f.client(t, device(0), "").Activate(ctx, oem); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client(t, device(0), "").Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	if a, err := f.client(t, device(1), "").Activate(ctx, oem); !errors.Is(err, problem.ErrKeyInUseElsewhere) {
		t.Fatalf("the OEM key on another PC after the retail key returned = %+v, %v; want KEY_IN_USE_ELSEWHERE", a, err)
	}
}

// A directory where the store keeps a file is named as the cause.
func TestStoreFileIsADirectory(t *testing.T) {
	f := newFixture(t, "retail", 1, 1, nil)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "photoedit", "license.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := f.client(t, device(0), dir).Status(context.Background())
	if problem.CodeOf(err) != problem.StoreCorrupt || !strings.Contains(err.Error(), "license.json: it is a directory") {
		t.Fatalf("status with a directory for license.json = %v; want LOCAL_STORE_ERROR naming it", err)
	}
}

// A digital license is not handed to whoever knows one of the device's
// identifiers: without the key, the device must show more than a MAC
// address or a system UUID (which others may know). What a reinstalled
// device shows, with or without administrator rights, is enough.
func TestDigitalLicenseNeedsMoreThanOthersCanSee(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	victim := device(5)
	if _, err := f.client(t, victim, t.TempDir()).Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	for name, claim := range map[string]echt.Hardware{
		"the MAC alone":            {MACs: victim.MACs},
		"the MAC, CPU and memory":  {MACs: victim.MACs, CPU: victim.CPU, MemoryGB: victim.MemoryGB},
		"the system UUID alone":    {SystemUUID: victim.SystemUUID},
		"the UUID, CPU and memory": {SystemUUID: victim.SystemUUID, CPU: victim.CPU, MemoryGB: victim.MemoryGB},
		// Both seen from outside the device: the MAC on the local network,
		// the UUID in network-boot requests.
		"the UUID and the MAC":                     {SystemUUID: victim.SystemUUID, MACs: victim.MACs},
		"the UUID, the MAC, CPU, memory, a new OS": {SystemUUID: victim.SystemUUID, MACs: victim.MACs, CPU: victim.CPU, MemoryGB: victim.MemoryGB, OSInstallID: "os-install-other"},
	} {
		_, err := f.client(t, claim, t.TempDir()).ActivateDigital(ctx)
		// The refusal says what a claim takes, the same words as for a
		// device that holds nothing: it must not tell the victim's MAC
		// from any other.
		if problem.CodeOf(err) != problem.NoDigitalLicense || !strings.Contains(err.Error(), "more than its network cards and system UUID") {
			t.Errorf("digital license claimed with %s: %v; want NO_DIGITAL_LICENSE saying what a claim takes", name, err)
		}
	}
	reinstalled := victim
	reinstalled.OSInstallID = "os-install-new"
	noRoot := reinstalled
	noRoot.SystemUUID, noRoot.BoardSerial = "", ""
	diskToo := echt.Hardware{SystemUUID: victim.SystemUUID, MACs: victim.MACs, Disks: victim.Disks, OSInstallID: "os-install-new"}
	for name, hw := range map[string]echt.Hardware{"reinstalled": reinstalled, "reinstalled, without administrator rights": noRoot, "reinstalled, showing UUID, MAC and disk": diskToo} {
		if a, err := f.client(t, hw, t.TempDir()).ActivateDigital(ctx); err != nil || a.Reason != problem.DigitalLicense {
			t.Errorf("%s: %+v, %v; want DIGITAL_LICENSE", name, a, err)
		}
	}
	// A key field left blank (spaces, dashes) means no key, as an empty one.
	for _, blank := range []string{" ", "  -  ", "-----", "\t"} {
		if a, err := f.client(t, reinstalled, t.TempDir()).Activate(ctx, blank); err != nil || a.Reason != problem.DigitalLicense {
			t.Errorf("Activate(%q) on the reinstalled device: %+v, %v; want DIGITAL_LICENSE", blank, a, err)
		}
		if a, err := f.client(t, reinstalled, t.TempDir()).ActivateProduct(ctx, blank, "photoedit"); err != nil || a.Reason != problem.DigitalLicense {
			t.Errorf("ActivateProduct(%q) on the reinstalled device: %+v, %v; want DIGITAL_LICENSE", blank, a, err)
		}
	}
	// With the key, a device showing only its MAC is recognised as the
	// activated one (the key is the secret).
	if a, err := f.client(t, echt.Hardware{MACs: victim.MACs, CPU: victim.CPU}, t.TempDir()).Activate(ctx, f.keys[0]); err != nil || a.Reason != problem.AlreadyActivated {
		t.Errorf("the key on the activated device, reading little: %+v, %v; want ALREADY_ACTIVATED", a, err)
	}
}

// checkUntil runs check over and over on a goroutine of its own until stop
// is closed.
func checkUntil(wg *sync.WaitGroup, stop <-chan struct{}, check func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				check()
			}
		}
	}()
}

// Checks running on one store while it is deactivated and activated again
// never see the two files between their writes: a check reads NOT_GENUINE
// LICENSE_TAMPERED only of a store that stays so.
func TestChecksNeverSeeAHalfWrittenStore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	c := f.client(t, device(0), "")
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var torn atomic.Int64
	for range 3 {
		checkUntil(&wg, stop, func() {
			if st, err := c.Status(ctx); err == nil && st.Reason == problem.LicenseTampered {
				torn.Add(1)
			}
		})
	}
	for range 10 {
		if err := c.Deactivate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Activate(ctx, f.keys[0]); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if n := torn.Load(); n > 0 {
		t.Errorf("%d checks read LICENSE_TAMPERED while the store was deactivated and activated", n)
	}
}

// Checks running while the same store is activated (the application's
// checks, echt watch in another Client) never write an older state over
// the activation's: afterwards the copy is genuine, every time.
func TestConcurrentChecksDuringActivation(t *testing.T) {
	ctx := context.Background()
	const rounds = 8
	f := newFixture(t, "retail", 1, rounds, nil)
	var clock atomic.Int64 // each reading moves on 61 s, so that every check writes
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Add(int64(61*time.Second))) }
	for round := range rounds {
		dir := t.TempDir()
		mk := func() *echt.Client {
			c, err := echt.NewClient(echt.Config{Server: f.srv.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir, Now: now, ClockTolerance: 24 * time.Hour,
				Hardware: func(context.Context) (echt.Hardware, error) { return device(round), nil }})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		app, watcher := mk(), mk()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, c := range []*echt.Client{app, watcher} {
			checkUntil(&wg, stop, func() { _, _ = c.Status(ctx) })
		}
		_, err := app.Activate(ctx, f.keys[round])
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*echt.Client{app, watcher, mk()} {
			if st, err := c.Status(ctx); err != nil || st.Status != echt.StatusGenuine {
				t.Fatalf("round %d: after activating with checks running: %s %s (%v); want GENUINE", round, st.Status, st.Reason, err)
			}
		}
	}
}

// activatedOnSwitchableHardware is a client activated on device(0) whose
// hardware is device(board) at every reading: set board to play another.
func activatedOnSwitchableHardware(t *testing.T) (*echt.Client, *atomic.Int64) {
	t.Helper()
	f := newFixture(t, "retail", 1, 1, nil)
	board := new(atomic.Int64)
	c, err := echt.NewClient(echt.Config{Server: f.srv.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: t.TempDir(),
		Hardware: func(context.Context) (echt.Hardware, error) { return device(int(board.Load())), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Activate(context.Background(), f.keys[0]); err != nil {
		t.Fatal(err)
	}
	return c, board
}

// A long-running Client reads the hardware again (at least every 10 s,
// here at every check): a new system board is noticed without a restart,
// by Status and by Validate, whose verdict then carries no genuine ticket.
func TestHardwareReadAgain(t *testing.T) {
	defer echt.SetRereadHardware(0)()
	ctx := context.Background()
	c, board := activatedOnSwitchableHardware(t)
	if st, err := c.Status(ctx); err != nil || !st.Genuine() {
		t.Fatalf("before: %+v, %v", st, err)
	}
	board.Store(9) // another device: new board, disks, NICs
	if st, err := c.Status(ctx); err != nil || st.Reason != problem.HardwareChanged {
		t.Fatalf("status after the board changed, same Client: %s %s, %v; want HARDWARE_CHANGED", st.Status, st.Reason, err)
	}
	st, err := c.Validate(ctx)
	if err != nil || st.Genuine() || len(st.Ticket) != 0 {
		t.Fatalf("validate after the board changed, same Client: %+v, %v; want not genuine, no ticket", st, err)
	}
}

// Concurrent first checks of a copy never activated (the grace period's
// first use) share one Client safely (run with -race).
func TestConcurrentFirstChecks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	c := f.client(t, device(0), "")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if st, err := c.Status(ctx); err != nil || st.Status != echt.StatusGrace {
					t.Errorf("first checks in parallel: %+v, %v; want GRACE", st, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A HARDWARE_CHANGED verdict about other hardware (another PC sharing the
// store, a component read wrong for a moment) does not decide this
// device's offline status afterwards; one about this very hardware does.
func TestVerdictAboutOtherHardwareDoesNotStick(t *testing.T) {
	defer echt.SetRereadHardware(0)()
	ctx := context.Background()
	c, board := activatedOnSwitchableHardware(t)
	board.Store(9)
	if st, err := c.Validate(ctx); err != nil || st.Reason != problem.HardwareChanged || !st.Online {
		t.Fatalf("validate on other hardware: %+v, %v; want an online HARDWARE_CHANGED", st, err)
	}
	if st, err := c.Status(ctx); err != nil || st.Reason != problem.HardwareChanged {
		t.Fatalf("status on that other hardware: %s %s, %v; want HARDWARE_CHANGED", st.Status, st.Reason, err)
	}
	board.Store(0) // the activated device again
	if st, err := c.Status(ctx); err != nil || !st.Genuine() {
		t.Fatalf("status on the activated device after a verdict about other hardware: %s %s, %v; want GENUINE", st.Status, st.Reason, err)
	}
}

// A client without Config.Product says which call to use instead, with a
// stable code, and a malformed product or server is refused up front.
func TestClientNeedsAProduct(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	dir := t.TempDir()
	c, err := echt.NewClient(echt.Config{Server: f.srv.URL, RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir,
		Hardware: func(context.Context) (echt.Hardware, error) { return device(0), nil }})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Activate(ctx, f.keys[0]) // the key names its product
	if err != nil || a.Product != "photoedit" {
		t.Fatalf("activate without Config.Product: %+v, %v", a, err)
	}
	calls := map[string]error{}
	_, calls["Status"] = c.Status(ctx)
	_, calls["Validate"] = c.Validate(ctx)
	_, calls["ActivateDigital"] = c.ActivateDigital(ctx)
	calls["Deactivate"] = c.Deactivate(ctx)
	_, calls["Ticket"] = c.Ticket(ctx, "")
	calls["Watch"] = c.Watch(ctx, "", echt.WatchOptions{}, nil)
	_, calls["StatusProduct ../x"] = c.StatusProduct(ctx, "../x")
	_, calls["ActivateProduct no key, no product"] = c.ActivateProduct(ctx, "", "")
	for call, err := range calls {
		if problem.CodeOf(err) != problem.InvalidRequest || !strings.Contains(err.Error(), "product") {
			t.Errorf("%s without a product: %v; want INVALID_REQUEST naming the product", call, err)
		}
	}
	// Each names the method called, and its variant with a product.
	if err := calls["Validate"]; err == nil || !strings.Contains(err.Error(), "Validate needs a product") || !strings.Contains(err.Error(), "ValidateProduct") {
		t.Errorf("Validate without a product: %v; want it to name Validate and ValidateProduct", err)
	}
	if st, err := c.StatusProduct(ctx, "photoedit"); err != nil || st.Status != echt.StatusGenuine {
		t.Fatalf("StatusProduct: %+v, %v", st, err)
	}
	for _, server := range []string{"not a url", "ftp://x", "http://", "https://h/?q=1"} {
		if _, err := echt.NewClient(echt.Config{Server: server, RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir}); err == nil {
			t.Errorf("NewClient accepted Server %q", server)
		}
	}
}

// Deactivating a device whose license files were damaged names what is
// wrong and how to restore them (the digital license), and doing so works.
func TestDeactivateWithDamagedStore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	dir := t.TempDir()
	c, err := echt.NewClient(echt.Config{Server: f.srv.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir,
		Hardware: func(context.Context) (echt.Hardware, error) { return device(0), nil }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		code problem.Code
	}{{"state.json", problem.LicenseTampered}, {"license.json", problem.LicenseMissing}} {
		if _, err := c.ActivateProduct(ctx, f.keys[0], "photoedit"); err != nil && problem.CodeOf(err) != problem.DigitalLicense {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, "photoedit", tc.file)); err != nil {
			t.Fatal(err)
		}
		err := c.Deactivate(ctx)
		// The hint is for the person at the device: what to do, in words,
		// not the SDK's or the agent's names.
		if h := echt.Hint(err); problem.CodeOf(err) != tc.code || !strings.Contains(h, "activate photoedit again without a key") || strings.Contains(h, "Client.") || strings.Contains(h, "echt ") {
			t.Fatalf("deactivate without %s: %v (hint %q); want %s with how to restore", tc.file, err, echt.Hint(err), tc.code)
		}
		if _, err := c.ActivateProduct(ctx, "", "photoedit"); err != nil {
			t.Fatalf("restore with the digital license: %v", err)
		}
		if err := c.Deactivate(ctx); err != nil {
			t.Fatalf("deactivate after the restore: %v", err)
		}
	}
}

// The grace period of a copy never activated is the publisher's: the
// product's SKUs' (the longest), asked of the server once at the first
// check and kept; the application's own Config.GraceDays wins; without a
// server or an answer, 30 days.
func TestGraceDaysFromTheSKU(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, map[string]int{"grace_days": 7})
	adminCall(t, f.srv, "POST", "/v1/admin/skus", map[string]any{"id": "pe-home", "product": "photoedit", "edition": "Home", "channel": "retail", "policy": map[string]int{"grace_days": 5}}, nil)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	mk := func(server, dir string, days int) *echt.Client {
		c, err := echt.NewClient(echt.Config{Server: server, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir, GraceDays: days,
			Hardware: func(context.Context) (echt.Hardware, error) { return device(0), nil }, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	check := func(c *echt.Client, wantDays int) {
		t.Helper()
		st, err := c.Status(ctx)
		if err != nil || st.Status != echt.StatusGrace || !st.GraceUntil.Equal(t0.Add(time.Duration(wantDays)*24*time.Hour)) {
			t.Fatalf("status = %+v, %v; want GRACE until %d days after the first check", st, err, wantDays)
		}
	}
	dir := t.TempDir()
	check(mk(f.srv.URL, dir, 0), 7)
	// Kept in the store: offline afterwards, the same period.
	now = t0.Add(2 * time.Minute)
	check(mk("", dir, 0), 7)
	now = t0.Add(8 * 24 * time.Hour)
	if st, err := mk("", dir, 0).Status(ctx); err != nil || st.Status != echt.StatusNotActivated {
		t.Fatalf("after the SKU's 7 days: %+v, %v; want NOT_ACTIVATED", st, err)
	}
	now = t0
	check(mk(f.srv.URL, t.TempDir(), 10), 10) // the application's own
	check(mk("", t.TempDir(), 0), 30)         // nobody to ask
	unreachable := httptest.NewServer(http.NotFoundHandler())
	unreachable.Close()
	check(mk(unreachable.URL, t.TempDir(), 0), 30)
}

// Signed answers name the request they answer: a network that swaps the
// key of an activation for a blocked one, or the license of a
// deactivation for another device's, gets signed answers the client
// refuses, and nothing changes on the device.
func TestSignedAnswersBoundToTheRequest(t *testing.T) {
	f := newFixture(t, "retail", 1, 4, nil)
	adminCall(t, f.srv, "POST", "/v1/admin/keys/block", map[string]string{"key": f.keys[1], "reason": "counterfeit"}, nil)
	var swap atomic.Value
	swap.Store(func(path string, body []byte) []byte { return body })
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		b = swap.Load().(func(string, []byte) []byte)(r.URL.Path, b)
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		forward(w, r, f.srv.URL)
	}))
	defer proxy.Close()
	ctx := context.Background()
	victim := func(dir string, d int) *echt.Client {
		c, err := echt.NewClient(echt.Config{Server: proxy.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir,
			Hardware: func(context.Context) (echt.Hardware, error) { return device(d), nil }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The genuine key swapped for a blocked one: the real server's signed
	// KEY_BLOCKED is about another request.
	swap.Store(func(path string, body []byte) []byte {
		if path != "/v1/activations" {
			return body
		}
		return bytes.Replace(body, []byte(f.keys[0]), []byte(f.keys[1]), 1)
	})
	dirA := t.TempDir()
	if _, err := victim(dirA, 8).Activate(ctx, f.keys[0]); problem.CodeOf(err) != problem.ServerUntrusted {
		t.Fatalf("activation with the key swapped on the way: %v; want SERVER_UNTRUSTED, not the signed KEY_BLOCKED of another request", err)
	}
	// Swapped for another genuine key: a license of that key is refused
	// (the server did activate that key: the request it got said so).
	swap.Store(func(path string, body []byte) []byte {
		if path != "/v1/activations" {
			return body
		}
		return bytes.Replace(body, []byte(f.keys[0]), []byte(f.keys[2]), 1)
	})
	if _, err := victim(dirA, 8).Activate(ctx, f.keys[0]); problem.CodeOf(err) != problem.ServerUntrusted {
		t.Fatalf("activation answered with another key's license: %v; want SERVER_UNTRUSTED", err)
	}
	// Honest again: device 8 activates; device 9 activates the fourth key.
	swap.Store(func(path string, body []byte) []byte { return body })
	a := victim(dirA, 8)
	if _, err := a.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	// The victim's deactivation swapped for another device's request:
	// its signed answer is refused and the victim keeps its license.
	dirB := t.TempDir()
	other := victim(dirB, 9)
	if _, err := other.Activate(ctx, f.keys[3]); err != nil {
		t.Fatal(err)
	}
	otherLicense, _ := os.ReadFile(filepath.Join(dirB, "photoedit", "license.json"))
	swap.Store(func(path string, body []byte) []byte {
		if path != "/v1/activations/deactivate" {
			return body
		}
		var req map[string]json.RawMessage
		_ = json.Unmarshal(body, &req)
		req["license"] = otherLicense
		b, _ := json.Marshal(req)
		return b
	})
	if err := a.Deactivate(ctx); problem.CodeOf(err) != problem.ServerUntrusted {
		t.Fatalf("deactivation swapped on the way: %v; want SERVER_UNTRUSTED", err)
	}
	if st, err := a.Status(ctx); err != nil || !st.Genuine() {
		t.Fatalf("after the refused deactivation: %+v, %v; want this device still genuine", st, err)
	}
}

// A verdict's results link is shown only on the server the client talks
// to: a network attacker who changes the request's Host header (which the
// request signature does not cover) gets a well-signed verdict whose link
// points elsewhere, and the SDK drops that link.
func TestResultsLinkOnlyOnOwnServer(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "retail", 1, 1, nil)
	dir := t.TempDir()
	c := f.client(t, device(0), dir)
	if _, err := c.Activate(ctx, f.keys[0]); err != nil {
		t.Fatal(err)
	}
	st, err := c.Validate(ctx)
	if err != nil || !st.Online || !strings.HasPrefix(st.ResultsURL, f.srv.URL+"/") {
		t.Fatalf("validate: %+v, %v; want a results link on %s", st, err, f.srv.URL)
	}
	target, _ := url.Parse(f.srv.URL)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = "evil.example"
	}}
	mitm := httptest.NewServer(proxy)
	defer mitm.Close()
	via, err := echt.NewClient(echt.Config{Server: mitm.URL, Product: "photoedit", RootKey: f.srv.Keyring.RootPublic(), StoreDir: dir,
		Hardware: func(context.Context) (echt.Hardware, error) { return device(0), nil }})
	if err != nil {
		t.Fatal(err)
	}
	st, err = via.Validate(ctx)
	if err != nil || !st.Online || !st.Genuine() || st.ResultsURL != "" {
		t.Fatalf("validate through a Host-changing proxy: status %s online %v link %q, %v; want the genuine verdict without the foreign link", st.Status, st.Online, st.ResultsURL, err)
	}
}

// A results link is shown on the configured server's origin when it names
// the same host, and not at all when it names another.
func TestOwnURL(t *testing.T) {
	for _, tc := range []struct{ server, link, want string }{
		{"https://act.example.com", "https://act.example.com/genuine/v1", "https://act.example.com/genuine/v1"},
		{"https://act.example.com:443", "https://act.example.com/genuine/v1", "https://act.example.com:443/genuine/v1"},
		{"https://act.example.com", "http://act.example.com/genuine/v1?lang=nl", "https://act.example.com/genuine/v1?lang=nl"}, // TLS ended at a proxy
		{"https://ACT.example.com", "https://act.example.com/genuine/v1", "https://ACT.example.com/genuine/v1"},
		{"http://[::1]:8080", "http://[::1]:8080/genuine/v1", "http://[::1]:8080/genuine/v1"},
		{"https://act.example.com", "https://evil.example/genuine/v1", ""},
		{"https://act.example.com", "javascript:alert(1)", ""},
		{"", "https://act.example.com/genuine/v1", ""},
	} {
		if got := echt.OwnURL(tc.server, tc.link); got != tc.want {
			t.Errorf("ownURL(%q, %q) = %q, want %q", tc.server, tc.link, got, tc.want)
		}
	}
}
