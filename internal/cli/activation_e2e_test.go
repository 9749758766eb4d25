package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echt-dev/echt/internal/cli/clitest"
	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/problem"
)

type pcs struct {
	t   *testing.T
	dir string
}

func (p pcs) pc(name string, raw hardware.Raw) (hwFile, store string) {
	return clitest.WriteJSON(p.t, p.dir, name+".json", raw), filepath.Join(p.dir, "store-"+name)
}

func pcA() hardware.Raw {
	return hardware.Raw{SystemUUID: "4C4C4544-0042-3510-8052-B4C04F4E4D32", BoardSerial: "CN1296354A00A7", Disks: []string{"S4EWNX0M123456"}, MACs: []string{"b4:2e:99:3a:10:7c"}, CPU: "Intel Core i7-8700", MemoryGB: 16, OSInstallID: "0f3c2a9e8d7b4c1a9e2f6d5c4b3a2910"}
}

func pcB() hardware.Raw {
	return hardware.Raw{SystemUUID: "8E7D6C5B-1111-2222-3333-444455556666", BoardSerial: "PF2K3L9M", Disks: []string{"WD-WX12A3456789"}, MACs: []string{"00:1b:21:aa:bb:cc"}, CPU: "AMD Ryzen 7 5800X", MemoryGB: 32, OSInstallID: "77aa88bb99cc00dd11ee22ff33aa44bb"}
}

type activateOut struct {
	ActivationID string `json:"activation_id"`
	Reason       string `json:"reason"`
	Product      string `json:"product"`
	Edition      string `json:"edition"`
	PartialKey   string `json:"partial_key"`
}

// oneKey starts a server with a product, one SKU of channel (and the
// admin flags extra) and one key of it, and gives the test its PCs.
func oneKey(t *testing.T, sku, channel string, extra ...string) (*clitest.Server, string, pcs) {
	t.Helper()
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, sku, channel, extra...)
	return s, genKeys(t, s, sku, "1")[0], pcs{t, t.TempDir()}
}

func activate(t *testing.T, s *clitest.Server, hw, store string, args ...string) (activateOut, clitest.Result) {
	t.Helper()
	r := clitest.Run(t, s, nil, append([]string{"activate", "--json", "--hardware", hw, "--store", store}, args...)...)
	var out activateOut
	r.JSON(t, &out)
	return out, r
}

func TestActivationStory(t *testing.T) {
	s, key, p := oneKey(t, "photoedit-pro", "retail")
	hwA, storeA := p.pc("a", pcA())
	hwB, storeB := p.pc("b", pcB())

	// PC-A activates.
	a1, r := activate(t, s, hwA, storeA, key)
	if r.Code != 0 || a1.Reason != "ACTIVATED" || a1.ActivationID == "" || a1.Product != "photoedit" || a1.Edition != "Pro" || a1.PartialKey != "XXXXX-XXXXX-XXXXX-XXXXX-"+key[24:] {
		t.Fatalf("PC-A activate = %+v (exit %d) %s", a1, r.Code, r.Stderr)
	}
	// PC-A again: the same activation, no seat spent.
	a2, r := activate(t, s, hwA, storeA, key)
	if r.Code != 0 || a2.Reason != "ALREADY_ACTIVATED" || a2.ActivationID != a1.ActivationID {
		t.Fatalf("PC-A again = %+v (exit %d)", a2, r.Code)
	}
	// PC-B with the same retail key: in use elsewhere.
	b1, r := activate(t, s, hwB, storeB, key)
	if r.Code != problem.KeyInUseElsewhere.ExitCode() || b1.Reason != "KEY_IN_USE_ELSEWHERE" {
		t.Fatalf("PC-B = %+v (exit %d)", b1, r.Code)
	}
	// Without --json the failure says the code and what to do.
	r = clitest.Run(t, s, nil, "activate", key, "--hardware", hwB, "--store", storeB)
	if r.Code == 0 || !contains(r.Stderr, "KEY_IN_USE_ELSEWHERE", "what to do") {
		t.Fatalf("PC-B text = %d %q", r.Code, r.Stderr)
	}
	// PC-A is genuine offline.
	var st map[string]any
	r = clitest.Run(t, s, nil, "status", "--json", "--hardware", hwA, "--store", storeA)
	r.JSON(t, &st)
	if r.Code != 0 || st["status"] != "GENUINE" || st["reason"] != "GENUINE" || st["product"] != "photoedit" || st["edition"] != "Pro" || st["partial_key"] != a1.PartialKey {
		t.Fatalf("status = %v (exit %d)", st, r.Code)
	}
	// PC-A's license files on PC-B cannot deactivate PC-A, and the answer
	// says what to do instead.
	var refused map[string]string
	r = clitest.Run(t, s, nil, "deactivate", "--json", "--hardware", hwB, "--store", storeA)
	r.JSON(t, &refused)
	if r.Code != problem.HardwareChanged.ExitCode() || refused["reason"] != "HARDWARE_CHANGED" || !strings.Contains(refused["remedy"], "deactivate from the device that holds the activation") || refused["activation_id"] != a1.ActivationID {
		t.Fatalf("deactivate with another device's license = %v (exit %d)", refused, r.Code)
	}
	// PC-A deactivates; PC-B activates.
	if r := clitest.Run(t, s, nil, "deactivate", "--hardware", hwA, "--store", storeA); r.Code != 0 || !strings.Contains(r.Stdout, "PhotoEdit") {
		t.Fatalf("deactivate = %d %s %s; want a message naming PhotoEdit", r.Code, r.Stdout, r.Stderr)
	}
	b2, r := activate(t, s, hwB, storeB, key)
	if r.Code != 0 || b2.Reason != "ACTIVATED" || b2.ActivationID == a1.ActivationID {
		t.Fatalf("PC-B after deactivation = %+v (exit %d) %s", b2, r.Code, r.Stderr)
	}
	// PC-A now has no license and no digital license.
	r = clitest.Run(t, s, nil, "status", "--json", "--hardware", hwA, "--store", storeA, "--product", "photoedit")
	r.JSON(t, &st)
	if st["status"] == "GENUINE" {
		t.Fatalf("PC-A after deactivation = %v", st)
	}
	if o, r := activate(t, s, hwA, storeA, "--product", "photoedit"); r.Code == 0 || o.Reason != "NO_DIGITAL_LICENSE" {
		t.Fatalf("PC-A digital license after deactivation = %+v (exit %d)", o, r.Code)
	}
	// Reinstall PC-B: empty store, same hardware, new OS install id.
	reinstalled := pcB()
	reinstalled.OSInstallID = "fresh-install-0001"
	hwB2, storeB2 := p.pc("b-reinstalled", reinstalled)
	b3, r := activate(t, s, hwB2, storeB2, "--product", "photoedit")
	if r.Code != 0 || b3.Reason != "DIGITAL_LICENSE" || b3.ActivationID != b2.ActivationID {
		t.Fatalf("reinstall = %+v (exit %d) %s", b3, r.Code, r.Stderr)
	}
	// A key left blank is no key: the same digital license.
	if o, r := activate(t, s, hwB2, t.TempDir(), " - ", "--product", "photoedit"); r.Code != 0 || o.Reason != "DIGITAL_LICENSE" || o.ActivationID != b2.ActivationID {
		t.Fatalf("reinstall with a blank key = %+v (exit %d) %s", o, r.Code, r.Stderr)
	}
	// A new motherboard is a new device: no digital license.
	newBoard := pcB()
	newBoard.SystemUUID, newBoard.BoardSerial = "99999999-8888-7777-6666-555555555555", "NEWBOARD01"
	hwB3, storeB3 := p.pc("b-new-board", newBoard)
	if o, r := activate(t, s, hwB3, storeB3, "--product", "photoedit"); r.Code != problem.NoDigitalLicense.ExitCode() || o.Reason != "NO_DIGITAL_LICENSE" {
		t.Fatalf("new board = %+v (exit %d)", o, r.Code)
	}
	// Typos and forgeries are refused before anything is bound.
	typo := key[:3] + string(otherChar(key[3])) + key[4:]
	if o, r := activate(t, s, hwA, storeA, typo, "--product", "photoedit"); r.Code != problem.KeyTypo.ExitCode() || o.Reason != "KEY_TYPO" {
		t.Fatalf("typo = %+v (exit %d) %s", o, r.Code, r.Stderr)
	}
	if o, r := activate(t, s, hwA, storeA, "BCDFG-HJKMP-QRTVW-XY234-6789B", "--product", "photoedit"); r.Code != problem.KeyInvalid.ExitCode() || o.Reason != "KEY_INVALID" {
		t.Fatalf("forged = %+v (exit %d)", o, r.Code)
	}
	// A blocked key activates nowhere.
	mustRun(t, s, "admin", "keys", "block", key, "--reason", "leaked")
	if o, r := activate(t, s, hwB, storeB, key); o.Reason != "KEY_BLOCKED" || r.Code != problem.KeyBlocked.ExitCode() {
		t.Fatalf("blocked = %+v (exit %d)", o, r.Code)
	}
}

func TestOEMNeverMoves(t *testing.T) {
	s, key, p := oneKey(t, "photoedit-oem", "oem")
	hwA, storeA := p.pc("a", pcA())
	hwB, storeB := p.pc("b", pcB())
	if o, r := activate(t, s, hwA, storeA, key); r.Code != 0 || o.Reason != "ACTIVATED" {
		t.Fatalf("OEM first device = %+v (exit %d) %s", o, r.Code, r.Stderr)
	}
	r := clitest.Run(t, s, nil, "deactivate", "--json", "--hardware", hwA, "--store", storeA)
	if r.Code != problem.DeactivationNotAllowed.ExitCode() || !contains(r.Stdout, "DEACTIVATION_NOT_ALLOWED") {
		t.Fatalf("OEM deactivate = %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if o, r := activate(t, s, hwB, storeB, key); r.Code == 0 || o.Reason != "KEY_IN_USE_ELSEWHERE" {
		t.Fatalf("OEM second device = %+v (exit %d)", o, r.Code)
	}
	// The first device still re-activates.
	if o, r := activate(t, s, hwA, storeA, key); r.Code != 0 || o.Reason != "ALREADY_ACTIVATED" {
		t.Fatalf("OEM first device again = %+v (exit %d)", o, r.Code)
	}
}

func TestVolumeMAKLimit(t *testing.T) {
	s, key, p := oneKey(t, "photoedit-mak", "volume-mak", "--max-devices", "2")
	for i, want := range []string{"ACTIVATED", "ACTIVATED", "ACTIVATION_LIMIT_REACHED"} {
		raw := pcB()
		raw.SystemUUID = []string{"a1a1a1a1-0000-0000-0000-000000000001", "b2b2b2b2-0000-0000-0000-000000000002", "c3c3c3c3-0000-0000-0000-000000000003"}[i]
		raw.MACs = []string{[]string{"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"}[i]}
		raw.Disks, raw.OSInstallID, raw.BoardSerial = nil, "", ""
		hw, store := p.pc(string(rune('a'+i)), raw)
		if o, _ := activate(t, s, hw, store, key); o.Reason != want {
			t.Fatalf("MAK activation %d = %+v, want %s", i+1, o, want)
		}
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !stringsContains(s, sub) {
			return false
		}
	}
	return true
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Activating with a key alone asks which product the key is for; that
// question is rate limited like activations, not like the public key check
// (30 a minute), so an office behind one address can activate many PCs in a
// row. A key that fails its checksum is a typo before any network traffic.
func TestActivateWithKeyAlone(t *testing.T) {
	s := clitest.StartServer(t, "", nil, "--check-rate-limit", "30")
	setupProduct(t, s, "photoedit-pro", "retail")
	keys := genKeys(t, s, "photoedit-pro", "12")
	p := pcs{t, t.TempDir()}
	for i, key := range keys {
		raw := pcB()
		raw.SystemUUID = fmt.Sprintf("pc-%02d", i)
		hw, store := p.pc(fmt.Sprintf("pc%d", i), raw)
		if o, r := activate(t, s, hw, store, key); r.Code != 0 || o.Reason != "ACTIVATED" || o.Product != "photoedit" {
			t.Fatalf("activation %d of 12 from one address = %+v (exit %d) %s", i+1, o, r.Code, r.Stderr)
		}
	}

	// One character changed: the checksum fails on the device itself.
	typo := []byte(keys[0])
	typo[0] = map[byte]byte{'B': 'C'}[typo[0]]
	if typo[0] == 0 {
		typo[0] = 'B'
	}
	hw, store := p.pc("typo", pcA())
	r := clitest.Run(t, nil, []string{"ECHT_SERVER=http://127.0.0.1:1"}, "activate", "--json", "--hardware", hw, "--store", store, string(typo))
	var o activateOut
	r.JSON(t, &o)
	if r.Code != problem.KeyTypo.ExitCode() || o.Reason != "KEY_TYPO" {
		t.Fatalf("typo with no server = %+v (exit %d) %s", o, r.Code, r.Stderr)
	}

	// The key typed as five words, without quotes, is one key.
	hw, store = p.pc("words", pcA())
	args := append([]string{"activate", "--json", "--hardware", hw, "--store", store}, strings.Split(keys[0], "-")...)
	r = clitest.Run(t, s, nil, args...)
	o = activateOut{}
	r.JSON(t, &o)
	if r.Code == 2 || o.Reason == "" || o.Reason == "KEY_INVALID" || o.Reason == "KEY_TYPO" || o.Reason == string(problem.InvalidRequest) {
		t.Fatalf("activate with the key's groups as separate words = %+v (exit %d) %s", o, r.Code, r.Stderr)
	}
}

// With --json, every outcome of an agent command is one JSON object on
// stdout, failures that reached no verdict included; such a failure is
// never reported as NOT_GENUINE.
func TestAgentJSONFailures(t *testing.T) {
	s, key, p := oneKey(t, "photoedit-pro", "retail")
	hw, store := p.pc("a", pcA())
	notDir := clitest.WriteJSON(t, t.TempDir(), "file.json", map[string]string{})
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"memory_gb": "lots"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	hugeMemory := clitest.WriteJSON(t, t.TempDir(), "huge.json", map[string]any{"system_uuid": "x1", "memory_gb": 1e300})
	badMAC := clitest.WriteJSON(t, t.TempDir(), "mac.json", map[string]any{"system_uuid": "x2", "macs": []string{"zz:zz"}})
	type out struct {
		ActivationID string `json:"activation_id"`
		Status       string `json:"status"`
		Reason       string `json:"reason"`
		Detail       string `json:"detail"`
	}
	for _, tc := range []struct {
		name       string
		args       []string
		exit       int
		status     string
		reason     string
		stderrHint string
		env        []string
	}{
		{"server without scheme", []string{"activate", key, "--server", "127.0.0.1:8080", "--hardware", hw, "--store", store}, 2, "", "INVALID_REQUEST", "http://", nil},
		{"server with a query", []string{"status", "--server", "http://127.0.0.1:8080/?q=1", "--store", store}, 2, "UNKNOWN", "INVALID_REQUEST", "without a query", nil},
		{"malformed hardware file", []string{"activate", key, "--hardware", bad, "--store", store}, 2, "", "INVALID_REQUEST", "memory_gb must be a number", nil},
		{"implausible memory", []string{"activate", key, "--hardware", hugeMemory, "--store", store}, 2, "", "INVALID_REQUEST", "memory_gb", nil},
		{"not a MAC", []string{"activate", key, "--hardware", badMAC, "--store", store}, 2, "", "INVALID_REQUEST", "zz:zz", nil},
		{"unknown flag", []string{"status", "--bogus"}, 2, "UNKNOWN", "INVALID_REQUEST", "unknown flag", nil},
		{"status, an argument", []string{"status", "extra"}, 2, "UNKNOWN", "INVALID_REQUEST", "unknown command", nil},
		{"activate, unknown flag", []string{"activate", "--bogus"}, 2, "", "INVALID_REQUEST", "unknown flag", nil},
		{"activate, two keys", []string{"activate", "A", "B"}, 2, "", "INVALID_REQUEST", "at most 1", nil},
		{"deactivate, unknown flag", []string{"deactivate", "--bogus"}, 2, "", "INVALID_REQUEST", "unknown flag", nil},
		{"bad product id", []string{"status", "--product", "Photo Edit", "--store", store}, 2, "UNKNOWN", "INVALID_REQUEST", "not valid", nil},
		{"store cannot be written", []string{"activate", key, "--hardware", hw, "--store", filepath.Join(notDir, "sub")}, problem.StoreCorrupt.ExitCode(), "", "LOCAL_STORE_ERROR", "", nil},
		{"store is a file", []string{"status", "--store", notDir}, problem.StoreCorrupt.ExitCode(), "UNKNOWN", "LOCAL_STORE_ERROR", "", nil},
		{"validate, store is a file", []string{"validate", "--store", notDir}, problem.StoreCorrupt.ExitCode(), "UNKNOWN", "LOCAL_STORE_ERROR", "", nil},
		{"nothing to deactivate", []string{"deactivate", "--store", filepath.Join(t.TempDir(), "empty"), "--hardware", hw}, problem.NotActivated.ExitCode(), "", "NOT_ACTIVATED", "", nil},
		// A service or cron job without HOME: no default store, and the
		// message says how to give one.
		{"status, no home directory", []string{"status", "--hardware", hw}, problem.StoreCorrupt.ExitCode(), "UNKNOWN", "LOCAL_STORE_ERROR", "--store DIR", []string{"HOME=", "XDG_CONFIG_HOME="}},
		{"activate, no home directory", []string{"activate", key, "--hardware", hw}, problem.StoreCorrupt.ExitCode(), "", "LOCAL_STORE_ERROR", "--store DIR", []string{"HOME=", "XDG_CONFIG_HOME="}},
	} {
		r := clitest.Run(t, s, tc.env, append(tc.args, "--json")...)
		var o out
		if err := json.Unmarshal([]byte(r.Stdout), &o); err != nil {
			t.Errorf("%s: stdout is not one JSON object (%v): %q, stderr %q", tc.name, err, r.Stdout, r.Stderr)
			continue
		}
		if r.Code != tc.exit || o.Reason != tc.reason || o.Status != tc.status || o.Detail == "" {
			t.Errorf("%s: exit %d, %+v; want exit %d, status %q, reason %q with a detail", tc.name, r.Code, o, tc.exit, tc.status, tc.reason)
		}
		if !strings.Contains(r.Stderr+o.Detail, tc.stderrHint) {
			t.Errorf("%s: neither stderr %q nor the detail %q says %q", tc.name, r.Stderr, o.Detail, tc.stderrHint)
		}
		// The contract's fields are there, empty when unknown.
		var fields map[string]any
		_ = json.Unmarshal([]byte(r.Stdout), &fields)
		want := map[string][]string{"activate": {"activation_id", "reason"}, "deactivate": {"activation_id", "product", "reason"},
			"status": {"status", "reason", "product", "edition", "partial_key"}, "validate": {"status", "reason", "product", "edition", "partial_key"}}[tc.args[0]]
		for _, k := range want {
			if _, ok := fields[k]; !ok {
				t.Errorf("%s: JSON %s has no %q", tc.name, r.Stdout, k)
			}
		}
	}

	// Deactivation names the activation it released; afterwards the copy
	// is not activated (no new grace period).
	a, r := activate(t, s, hw, store, key)
	if r.Code != 0 || a.Reason != "ACTIVATED" {
		t.Fatalf("activate = %+v (exit %d) %s; want ACTIVATED (the refused attempts spent nothing)", a, r.Code, r.Stderr)
	}
	r = clitest.Run(t, s, nil, "deactivate", "--json", "--hardware", hw, "--store", store)
	var d out
	r.JSON(t, &d)
	if r.Code != 0 || d.Reason != "DEACTIVATED" || d.ActivationID != a.ActivationID {
		t.Fatalf("deactivate = %+v (exit %d), want DEACTIVATED of %s", d, r.Code, a.ActivationID)
	}
	r = clitest.Run(t, s, nil, "status", "--json", "--hardware", hw, "--store", store)
	var st out
	r.JSON(t, &st)
	if st.Status != "NOT_ACTIVATED" || st.Reason != "NOT_ACTIVATED" || r.Code != problem.NotActivated.ExitCode() {
		t.Fatalf("status after deactivation = %+v (exit %d)", st, r.Code)
	}
}

// A damaged pinned root key says exactly what to do, and doing it works.
func TestDamagedPinnedRoot(t *testing.T) {
	s, key, p := oneKey(t, "photoedit-pro", "retail")
	hw, store := p.pc("a", pcA())
	if o, r := activate(t, s, hw, store, key); r.Code != 0 {
		t.Fatalf("activate = %+v %s", o, r.Stderr)
	}
	root := filepath.Join(store, "trusted-root.json")
	good, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	// Not JSON at all; and one character of the key changed, still valid
	// base64, so only the key id beside it tells.
	var pinned map[string]string
	if err := json.Unmarshal(good, &pinned); err != nil {
		t.Fatal(err)
	}
	k := []byte(pinned["root_key"])
	if k[10] == 'A' {
		k[10] = 'B'
	} else {
		k[10] = 'A'
	}
	pinned["root_key"] = string(k)
	oneByte, _ := json.Marshal(pinned)
	for _, damaged := range [][]byte{[]byte("xx"), oneByte} {
		if err := os.WriteFile(root, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		r := clitest.Run(t, s, nil, "status", "--hardware", hw, "--store", store)
		if r.Code != problem.LicenseTampered.ExitCode() || !strings.Contains(r.Stderr, root+" is damaged") || !strings.Contains(r.Stderr, "what to do: activate again") {
			t.Fatalf("status with a damaged root %s: exit %d, stderr %q", damaged, r.Code, r.Stderr)
		}
		// What it says to do works: activating again pins the key anew.
		if o, r := activate(t, s, hw, store, key); r.Code != 0 || o.Reason != "ALREADY_ACTIVATED" {
			t.Fatalf("activate again over the damaged root = %+v (exit %d) %s", o, r.Code, r.Stderr)
		}
		if b, err := os.ReadFile(root); err != nil || !bytes.Equal(b, good) {
			t.Fatalf("the root pinned again = %q, %v; want %q", b, err, good)
		}
		r = clitest.Run(t, s, nil, "status", "--hardware", hw, "--store", store)
		if r.Code != 0 {
			t.Fatalf("status after the fix: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
		}
	}
}

// The agent after a disk and network card swap, as a person follows it:
// status says HARDWARE_CHANGED, activating again with the same key works
// and status is GENUINE again.
func TestAgentActivatesAgainAfterHardwareChange(t *testing.T) {
	s, key, p := oneKey(t, "photoedit-pro", "retail")
	hw, store := p.pc("a", pcA())
	first, r := activate(t, s, hw, store, key)
	if r.Code != 0 || first.Reason != "ACTIVATED" {
		t.Fatalf("activate = %+v (exit %d) %s", first, r.Code, r.Stderr)
	}
	changed := pcA()
	changed.Disks, changed.MACs = []string{"S4EWNX0M999999"}, []string{"b4:2e:99:3a:10:99"}
	hw, _ = p.pc("a", changed)
	var st struct{ Status, Reason string }
	r = clitest.Run(t, s, nil, "status", "--json", "--hardware", hw, "--store", store)
	r.JSON(t, &st)
	if st.Reason != "HARDWARE_CHANGED" || r.Code != problem.HardwareChanged.ExitCode() {
		t.Fatalf("status after the change = %+v (exit %d)", st, r.Code)
	}
	again, r := activate(t, s, hw, store, key)
	if r.Code != 0 || again.Reason != "ACTIVATED" || again.ActivationID == first.ActivationID {
		t.Fatalf("activate again = %+v (exit %d) %s", again, r.Code, r.Stderr)
	}
	r = clitest.Run(t, s, nil, "status", "--json", "--hardware", hw, "--store", store)
	r.JSON(t, &st)
	if st.Status != "GENUINE" || r.Code != 0 {
		t.Fatalf("status after activating again = %+v (exit %d)", st, r.Code)
	}
}

// Hardware files (docs/hardware.md): a byte order mark is ignored and junk
// MACs are dropped; typos, other shapes and too many disks are usage
// errors that name the problem in the file's terms.
func TestHardwareFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var out struct {
		Profile struct {
			SystemUUID string   `json:"system_uuid"`
			MACs       []string `json:"macs"`
		} `json:"profile"`
	}
	r := clitest.Run(t, nil, nil, "hwid", "--json", "--hardware", write("bom.json", "\xef\xbb\xbf"+`{"system_uuid":"4c4c4544-0041","macs":["00:00:00:00:00:00","b4:2e:99:3a:10:7b"]}`))
	r.JSON(t, &out)
	if r.Code != 0 || out.Profile.SystemUUID == "" || len(out.Profile.MACs) != 1 {
		t.Fatalf("hwid with a byte order mark and a junk MAC = %d %+v %s", r.Code, out, r.Stderr)
	}
	disks := `"d0","d1","d2","d3","d4","d5","d6","d7","d8","d9"`
	for _, tc := range []struct{ name, body, want string }{
		{"typo.json", `{"system_uid":"x"}`, `unknown field "system_uid"`},
		{"case.json", `{"SYSTEM_UUID":"x"}`, `unknown field "SYSTEM_UUID"`},
		{"array.json", `[]`, "one JSON object"},
		{"null.json", `null`, "one JSON object"},
		{"empty.json", ` `, "one JSON object"},
		{"twice.json", `{"cpu":"a","cpu":"b"}`, `field "cpu" given twice`},
		{"two.json", `{} {}`, "nothing after it"},
		{"type.json", `{"memory_gb":"16"}`, "memory_gb must be a number"},
		{"disks.json", `{"disks":[` + disks + `]}`, "8 different disks"},
		{"huge.json", "{" + strings.Repeat(" ", 1<<20) + "}", "too large for a hardware profile"},
	} {
		r := clitest.Run(t, nil, nil, "hwid", "--hardware", write(tc.name, tc.body))
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || strings.Contains(r.Stderr, ": json: ") {
			t.Errorf("hwid with %s = %d %q; want exit 2 saying %q", tc.body, r.Code, r.Stderr, tc.want)
		}
	}
}

// echt status without --product on a device holding two products reports
// each of them; its JSON keeps the status fields for the device as a
// whole (GENUINE only when both are) and lists each product's status.
func TestStatusOfSeveralProducts(t *testing.T) {
	s, photo, p := oneKey(t, "photoedit-pro", "retail")
	mustRun(t, s, "admin", "product", "create", "videoedit", "--name", "VideoEdit")
	mustRun(t, s, "admin", "sku", "create", "videoedit-std", "--product", "videoedit", "--edition", "Standard", "--channel", "retail")
	video := genKeys(t, s, "videoedit-std", "1")[0]
	hw, store := p.pc("a", pcA())
	for _, key := range []string{photo, video} {
		if o, r := activate(t, s, hw, store, key); r.Code != 0 {
			t.Fatalf("activate %s = %+v (exit %d) %s", key, o, r.Code, r.Stderr)
		}
	}
	type status struct {
		Status     string `json:"status"`
		Reason     string `json:"reason"`
		Product    string `json:"product"`
		Edition    string `json:"edition"`
		PartialKey string `json:"partial_key"`
	}
	var both struct {
		status
		Products []status `json:"products"`
	}
	r := clitest.Run(t, s, nil, "status", "--json", "--hardware", hw, "--store", store)
	r.JSON(t, &both)
	if r.Code != 0 || both.Status != "GENUINE" || both.Reason != "GENUINE" || len(both.Products) != 2 ||
		both.Products[0].Product != "photoedit" || both.Products[1].Product != "videoedit" || both.Products[1].Edition != "Standard" || both.Products[0].Status != "GENUINE" {
		t.Fatalf("status --json of two products = %+v (exit %d) %s", both, r.Code, r.Stderr)
	}
	r = clitest.Run(t, s, nil, "status", "--hardware", hw, "--store", store)
	if r.Code != 0 || !contains(r.Stdout, "PhotoEdit Pro: GENUINE", "VideoEdit Standard: GENUINE") {
		t.Fatalf("status of two products = %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	// One of them damaged: the device is not genuine, for that product's
	// reason, and the other still says GENUINE.
	lic := filepath.Join(store, "videoedit", "license.json")
	b, err := os.ReadFile(lic)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"payload"`)) + 20
	b[i] ^= 1 // one changed bit in the signed payload
	if err := os.WriteFile(lic, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r = clitest.Run(t, s, nil, "status", "--json", "--hardware", hw, "--store", store)
	both.Products = nil
	r.JSON(t, &both)
	if r.Code != problem.LicenseTampered.ExitCode() || both.Status != "NOT_GENUINE" || both.Reason != "LICENSE_TAMPERED" || len(both.Products) != 2 ||
		both.Products[0].Status != "GENUINE" || both.Products[1].Reason != "LICENSE_TAMPERED" {
		t.Fatalf("status --json with one license damaged = %+v (exit %d) %s", both, r.Code, r.Stderr)
	}
	// --product still picks one; deactivate, which changes something, must be told which.
	r = clitest.Run(t, s, nil, "status", "--json", "--product", "photoedit", "--hardware", hw, "--store", store)
	var one status
	r.JSON(t, &one)
	if r.Code != 0 || one.Product != "photoedit" || one.Status != "GENUINE" {
		t.Fatalf("status --product photoedit = %+v (exit %d)", one, r.Code)
	}
	if r := clitest.Run(t, s, nil, "deactivate", "--hardware", hw, "--store", store); r.Code != 2 || !contains(r.Stderr, "several products", "--product") {
		t.Fatalf("deactivate without --product = %d %s", r.Code, r.Stderr)
	}
	// A product deactivated here is listed, NOT_ACTIVATED, but the device
	// is judged by what it still holds: the photoedit license, genuine.
	b[i] ^= 1 // the license undamaged again
	if err := os.WriteFile(lic, b, 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, s, "deactivate", "--product", "videoedit", "--hardware", hw, "--store", store)
	r = clitest.Run(t, s, nil, "status", "--json", "--hardware", hw, "--store", store)
	both.Products = nil
	r.JSON(t, &both)
	if r.Code != 0 || both.Status != "GENUINE" || len(both.Products) != 2 || both.Products[1].Status != "NOT_ACTIVATED" {
		t.Fatalf("status --json with videoedit deactivated = %+v (exit %d) %s; want GENUINE, videoedit NOT_ACTIVATED", both, r.Code, r.Stderr)
	}
}
