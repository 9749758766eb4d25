package cli_test

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/echt-dev/echt/internal/cli/clitest"
	"github.com/echt-dev/echt/problem"
)

func mustRun(t *testing.T, s *clitest.Server, args ...string) clitest.Result {
	t.Helper()
	r := clitest.Run(t, s, nil, args...)
	if r.Code != 0 {
		t.Fatalf("echt %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

func setupProduct(t *testing.T, s *clitest.Server, sku, channel string, extra ...string) {
	t.Helper()
	if r := clitest.Run(t, s, nil, "admin", "product", "create", "photoedit", "--name", "PhotoEdit"); r.Code != 0 && !strings.Contains(r.Stderr, "PRODUCT_EXISTS") {
		t.Fatalf("product create: %d %s", r.Code, r.Stderr)
	}
	mustRun(t, s, append([]string{"admin", "sku", "create", sku, "--product", "photoedit", "--edition", "Pro", "--channel", channel}, extra...)...)
}

func genKeys(t *testing.T, s *clitest.Server, sku string, n string) []string {
	t.Helper()
	r := mustRun(t, s, "admin", "keys", "generate", "--sku", sku, "--count", n)
	return strings.Fields(r.Stdout)
}

func TestAdminWalkthrough(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	// First start: data directory 0700, token file 0600, token printed once.
	for path, want := range map[string]os.FileMode{s.Data: 0o700, filepath.Join(s.Data, "admin-token"): 0o600, filepath.Join(s.Data, "master.key"): 0o600, filepath.Join(s.Data, "echt.db"): 0o600, filepath.Join(s.Data, "echt.db-wal"): 0o600, filepath.Join(s.Data, "echt.db-shm"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	if !strings.Contains(s.Logs(), s.Token) {
		t.Errorf("first start did not print the admin token")
	}
	s.Restart()
	if strings.Count(s.Logs(), s.Token) != 0 {
		t.Errorf("second start printed the admin token again")
	}

	setupProduct(t, s, "photoedit-pro", "retail")
	keys := genKeys(t, s, "photoedit-pro", "10")
	if len(keys) != 10 {
		t.Fatalf("generate printed %d keys, want 10", len(keys))
	}
	r := mustRun(t, s, "admin", "sku", "list", "--json")
	var skus []map[string]any
	r.JSON(t, &skus)
	if len(skus) != 1 || skus[0]["id"] != "photoedit-pro" || skus[0]["channel"] != "retail" {
		t.Fatalf("sku list --json = %s", r.Stdout)
	}
	var products []map[string]any
	mustRun(t, s, "admin", "product", "list", "--json").JSON(t, &products)
	if len(products) != 1 || products[0]["name"] != "PhotoEdit" {
		t.Fatalf("product list = %v", products)
	}

	var info map[string]any
	mustRun(t, s, "admin", "keys", "show", strings.ToLower(keys[0]), "--json").JSON(t, &info)
	if info["status"] != "active" || info["sku"] != "photoedit-pro" {
		t.Fatalf("keys show = %v", info)
	}
	mustRun(t, s, "admin", "keys", "block", keys[0], "--reason", "counterfeit", "--json").JSON(t, &info)
	if info["status"] != "blocked" || info["block_reason"] != "counterfeit" {
		t.Fatalf("keys block = %v", info)
	}
	if r := clitest.Run(t, s, nil, "admin", "keys", "block", keys[0]); r.Code != 2 || !strings.Contains(r.Stderr, "--reason") {
		t.Fatalf("block without reason = %d %s", r.Code, r.Stderr)
	}
	mustRun(t, s, "admin", "keys", "unblock", keys[0], "--json").JSON(t, &info)
	if info["status"] != "active" {
		t.Fatalf("keys unblock = %v", info)
	}
	// Unblocking again, or blocking twice for one reason, changes nothing
	// and says so; the audit log holds one entry per change.
	if out := mustRun(t, s, "admin", "keys", "unblock", keys[0]).Stdout; !strings.Contains(out, "nothing changed") {
		t.Fatalf("second unblock: %s", out)
	}
	mustRun(t, s, "admin", "keys", "block", keys[0], "--reason", "leaked")
	info = nil
	mustRun(t, s, "admin", "keys", "block", keys[0], "--reason", "leaked", "--json").JSON(t, &info)
	if info["unchanged"] != true || info["status"] != "blocked" {
		t.Fatalf("second block = %v", info)
	}
	mustRun(t, s, "admin", "keys", "unblock", keys[0]) // the audit log below holds one entry per change
	// A typo and a forgery are told apart, with their exit codes.
	typo := keys[1][:6] + string(otherChar(keys[1][6])) + keys[1][7:]
	if r := clitest.Run(t, s, nil, "admin", "keys", "show", typo); r.Code != problem.KeyTypo.ExitCode() || !strings.Contains(r.Stderr, "KEY_TYPO") {
		t.Fatalf("show typo = %d %s", r.Code, r.Stderr)
	}
	if r := clitest.Run(t, s, nil, "admin", "keys", "show", "BCDFG-HJKMP-QRTVW-XY234-6789B"); r.Code != problem.KeyInvalid.ExitCode() || !strings.Contains(r.Stderr, "KEY_INVALID") {
		t.Fatalf("show forged = %d %s", r.Code, r.Stderr)
	}

	// A support token may look but not change.
	var tok map[string]any
	mustRun(t, s, "admin", "token", "create", "--role", "support", "--json").JSON(t, &tok)
	support := tok["token"].(string)
	r = clitest.Run(t, s, []string{"ECHT_TOKEN=" + support}, "admin", "product", "create", "x", "--name", "X")
	if r.Code != problem.Forbidden.ExitCode() || !strings.Contains(r.Stderr, "FORBIDDEN") {
		t.Fatalf("support creates product = %d %s", r.Code, r.Stderr)
	}
	if r := clitest.Run(t, s, []string{"ECHT_TOKEN=" + support}, "admin", "keys", "show", keys[2]); r.Code != 0 {
		t.Fatalf("support shows key = %d %s", r.Code, r.Stderr)
	}
	// A refusal every batch gets issued nothing: no warning about a batch
	// in flight.
	r = clitest.Run(t, s, []string{"ECHT_TOKEN=" + support}, "admin", "keys", "generate", "--sku", "photoedit-pro", "--count", "5")
	if r.Code != problem.Forbidden.ExitCode() || strings.Contains(r.Stderr, "in flight") {
		t.Fatalf("support generates keys = %d %s; want FORBIDDEN alone", r.Code, r.Stderr)
	}
	mustRun(t, s, "admin", "token", "revoke", tok["id"].(string))
	if r := clitest.Run(t, s, []string{"ECHT_TOKEN=" + support}, "admin", "keys", "show", keys[2]); r.Code != problem.Unauthorized.ExitCode() {
		t.Fatalf("revoked token = %d %s", r.Code, r.Stderr)
	}

	var audit []map[string]any
	mustRun(t, s, "admin", "audit", "--json").JSON(t, &audit)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a["action"].(string))
	}
	want := "bootstrap product.create sku.create keys.generate key.block key.unblock key.block key.unblock token.create token.revoke"
	if strings.Join(actions, " ") != want {
		t.Fatalf("audit = %v, want %s", actions, want)
	}
	if r := clitest.Run(t, nil, []string{"ECHT_SERVER=http://127.0.0.1:1"}, "admin", "product", "list"); r.Code != problem.ServerUnreachable.ExitCode() || !strings.Contains(r.Stderr, "what to do") {
		t.Fatalf("unreachable server = %d %s", r.Code, r.Stderr)
	}
	if r := clitest.Run(t, s, nil, "admin", "sku", "create", "x"); r.Code != 2 {
		t.Fatalf("missing flags = %d %s", r.Code, r.Stderr)
	}
}

func otherChar(c byte) byte {
	if c == 'B' {
		return 'C'
	}
	return 'B'
}

// Kill the server with SIGKILL while it generates keys: every batch the
// CLI wrote out (acknowledged) is in the database after a restart.
func TestCrashDuringKeyGeneration(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-pro", "retail")
	out := filepath.Join(t.TempDir(), "keys.txt")
	done := make(chan clitest.Result, 1)
	go func() {
		done <- clitest.Run(t, s, nil, "admin", "keys", "generate", "--sku", "photoedit-pro", "--count", "400000", "--batch", "5000", "--out", out)
	}()
	// Kill once some batches are acknowledged.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(out); err == nil && fi.Size() > 30*5000*30 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	r := <-done
	if r.Code == 0 {
		t.Fatalf("generate finished before the kill; make the run longer")
	}
	acked := readLines(t, out)
	if len(acked) == 0 || len(acked)%5000 != 0 {
		t.Fatalf("%d keys written: want whole acknowledged batches", len(acked))
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.Data, "echt.db"))
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.QueryRow("SELECT count(*) FROM product_keys").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check = %q, %v", integrity, err)
	}
	db.Close()
	if rows < len(acked) {
		t.Fatalf("%d keys in the database, %d acknowledged", rows, len(acked))
	}
	s.Restart()
	// The last acknowledged batch and a sample of the rest are all there.
	check := append(acked[len(acked)-50:], acked[0], acked[len(acked)/2])
	for _, k := range check {
		if r := clitest.Run(t, s, nil, "admin", "keys", "show", k, "--json"); r.Code != 0 {
			t.Fatalf("acknowledged key %s lost: %s", k, r.Stderr)
		}
	}
	t.Logf("killed after %d acknowledged keys; %d rows stored", len(acked), rows)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func stringsContains(s, sub string) bool { return strings.Contains(s, sub) }

// A data directory whose master key went missing (a database restored
// without it) is refused with what to do; no new key is made, since it
// could never open the existing keyring.
func TestMissingMasterKeyRefused(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	s.Stop()
	keyFile := filepath.Join(s.Data, "master.key")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	r := clitest.Run(t, nil, nil, "serve", "--data", s.Data, "--addr", "127.0.0.1:0")
	if r.Code == 0 || !strings.Contains(r.Stderr, "master.key is missing") || !strings.Contains(r.Stderr, "--master-key-file") {
		t.Fatalf("serve without its master key: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Fatalf("serve made a new master key beside the existing database (%v)", err)
	}
}

// keys generate --json prints one JSON object with the keys.
func TestKeysGenerateJSON(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-pro", "retail")
	var out struct {
		SKU   string   `json:"sku"`
		Keys  []string `json:"keys"`
		Count int      `json:"count"`
	}
	mustRun(t, s, "admin", "keys", "generate", "--sku", "photoedit-pro", "--count", "5", "--batch", "2", "--json").JSON(t, &out)
	if out.SKU != "photoedit-pro" || out.Count != 5 || len(out.Keys) != 5 || len(out.Keys[4]) != 29 {
		t.Fatalf("keys generate --json = %+v", out)
	}

	// --out never replaces a file of keys issued before, unless --force.
	file := filepath.Join(t.TempDir(), "keys.txt")
	mustRun(t, s, "admin", "keys", "generate", "--sku", "photoedit-pro", "--count", "3", "--out", file)
	before, _ := os.ReadFile(file)
	r := clitest.Run(t, s, nil, "admin", "keys", "generate", "--sku", "photoedit-pro", "--count", "3", "--out", file)
	after, _ := os.ReadFile(file)
	if r.Code != 2 || !strings.Contains(r.Stderr, "--force") || strings.Contains(r.Stderr, "current state") || string(after) != string(before) || strings.Count(string(before), "\n") != 3 {
		t.Fatalf("keys generate --out onto an existing file: exit %d %s; file %q then %q", r.Code, r.Stderr, before, after)
	}
	mustRun(t, s, "admin", "keys", "generate", "--sku", "photoedit-pro", "--count", "2", "--out", file, "--force")
	if after, _ := os.ReadFile(file); strings.Count(string(after), "\n") != 2 {
		t.Fatalf("keys generate --out --force wrote %q", after)
	}
}

// Admin commands: a failure with --json is one JSON object too, and a
// command group refuses a subcommand it does not have.
func TestAdminJSONFailures(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	r := clitest.Run(t, s, nil, "admin", "keys", "generate", "--sku", "nope", "--count", "1", "--json")
	var out struct{ Reason, Detail, Remedy string }
	r.JSON(t, &out)
	if r.Code != problem.SKUNotFound.ExitCode() || out.Reason != "SKU_NOT_FOUND" || out.Remedy == "" {
		t.Fatalf("keys generate for a missing SKU: exit %d, %+v", r.Code, out)
	}
	if r := clitest.Run(t, s, nil, "admin", "sku", "show", "nope"); r.Code != 2 || !strings.Contains(r.Stderr, `unknown command "show"`) {
		t.Fatalf("unknown subcommand: exit %d, %s", r.Code, r.Stderr)
	}
}

// One echt serve per SQLite data directory: a second one on the same
// directory is refused (its caches would go stale under the first one's
// writes), while the first keeps serving.
func TestSecondServerOnADataDirectory(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	r := clitest.Run(t, nil, nil, "serve", "--data", s.Data, "--addr", "127.0.0.1:0")
	if r.Code == 0 || !strings.Contains(r.Stderr, "in use by another echt serve") {
		t.Fatalf("second serve on %s = %d %q; want a refusal naming the other server", s.Data, r.Code, r.Stderr)
	}
	mustRun(t, s, "admin", "product", "list")
}

// With no token given, the admin commands use the local server's token
// file; when another server refuses it, the message names that file.
func TestRefusedLocalTokenNamesItsFile(t *testing.T) {
	a := clitest.StartServer(t, "", nil)
	b := clitest.StartServer(t, "", nil)
	env := []string{"ECHT_DATA=" + a.Data, "ECHT_SERVER=" + b.URL}
	for _, args := range [][]string{{"admin", "product", "list"}, {"admin", "backup", "--out", filepath.Join(t.TempDir(), "b.db")}} {
		r := clitest.Run(t, nil, env, args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, "UNAUTHORIZED") || !strings.Contains(r.Stderr, filepath.Join(a.Data, "admin-token")) {
			t.Errorf("%v with %s's token against another server = %d %q; want UNAUTHORIZED naming the token file", args, a.Data, r.Code, r.Stderr)
		}
	}
	if r := clitest.Run(t, nil, []string{"ECHT_DATA=" + a.Data, "ECHT_SERVER=" + a.URL}, "admin", "product", "list"); r.Code != 0 {
		t.Errorf("admin product list against its own server = %d %q", r.Code, r.Stderr)
	}
	// A token given and refused: what to do is not "pass --token".
	r := clitest.Run(t, nil, []string{"ECHT_SERVER=" + b.URL}, "admin", "--token", a.Token, "product", "list")
	if r.Code == 0 || !strings.Contains(r.Stderr, "does not accept the token given with --token") || strings.Contains(r.Stderr, "Pass a valid token") {
		t.Errorf("admin product list with another server's --token = %d %q; want it to say the token given was refused", r.Code, r.Stderr)
	}
}

// A server that cannot listen sets up nothing: no data directory, no keys,
// no admin token shown once for a server that never ran; the message says
// what was wrong with the address.
func TestServeThatCannotListenCreatesNothing(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	taken := strings.TrimPrefix(s.URL, "http://")
	for _, c := range []struct {
		addr, want string
		code       int
	}{
		{"nonsense", "give host:port", 2},
		{taken, "the port is in use", 1},
	} {
		data := filepath.Join(t.TempDir(), "new-installation")
		r := clitest.Run(t, nil, nil, "serve", "--data", data, "--addr", c.addr)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.want) || strings.Contains(r.Stdout+r.Stderr, "admin token") {
			t.Errorf("serve --addr %s = %d, stdout %q, stderr %q; want exit %d saying %q and no admin token", c.addr, r.Code, r.Stdout, r.Stderr, c.code, c.want)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("serve --addr %s left %s behind (%v)", c.addr, data, err)
		}
	}
}

// Flag values the CLI can check are usage errors (exit 2) naming the
// choices, before anything is sent.
func TestAdminChoicesCheckedLocally(t *testing.T) {
	for _, args := range [][]string{
		{"admin", "keys", "block", "BCDFG-HJKMP-QRTVW-XY234-6789B", "--reason", "stolen"},
		{"admin", "token", "create", "--role", "king"},
	} {
		r := clitest.Run(t, nil, []string{"ECHT_SERVER=http://127.0.0.1:9", "ECHT_TOKEN=x"}, args...)
		if r.Code != 2 || !strings.Contains(r.Stderr, "not \"") {
			t.Errorf("%v = %d %q; want exit 2 naming the choices", args, r.Code, r.Stderr)
		}
	}
}

// --tolerance 0 and --grace-days 0 are settings, not "the default": a
// strict SKU counts a RAM upgrade as another device. Flags left out take
// the defaults.
func TestZeroToleranceOnPurpose(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-strict", "retail", "--tolerance", "0", "--grace-days", "0")
	setupProduct(t, s, "photoedit-pro", "retail")
	var skus []struct {
		ID     string `json:"id"`
		Policy struct {
			GraceDays int `json:"grace_days"`
			Tolerance int `json:"tolerance"`
		} `json:"policy"`
	}
	mustRun(t, s, "admin", "sku", "list", "--json").JSON(t, &skus)
	got := map[string][2]int{}
	for _, k := range skus {
		got[k.ID] = [2]int{k.Policy.Tolerance, k.Policy.GraceDays}
	}
	if got["photoedit-strict"] != [2]int{0, 0} || got["photoedit-pro"] != [2]int{4, 30} {
		t.Fatalf("tolerance, grace days = %v; want strict 0 0, pro 4 30", got)
	}
	// Through the API, a 0 not named in zero_on_purpose still means the
	// default: a client that sends every field, zeros included, keeps the
	// meaning it always had.
	body := `{"id":"photoedit-typed","product":"photoedit","edition":"T","channel":"retail","policy":{"max_devices":0,"valid_days":0,"grace_days":0,"tolerance":0,"revalidate_hours":0,"reminder_minutes":0,"escalate_days":0}}`
	req, _ := http.NewRequest("POST", s.URL+"/v1/admin/skus", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var typed struct {
		Policy struct {
			GraceDays int `json:"grace_days"`
			Tolerance int `json:"tolerance"`
		} `json:"policy"`
	}
	json.NewDecoder(resp.Body).Decode(&typed)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || typed.Policy.Tolerance != 4 || typed.Policy.GraceDays != 30 {
		t.Fatalf("SKU with zeros, none on purpose = %d %+v; want the defaults 4 and 30", resp.StatusCode, typed.Policy)
	}

	strict := genKeys(t, s, "photoedit-strict", "1")[0]
	pc := newDevice(t, s, "pc", pcA())
	if o := pc.activate(strict); o.Reason != "ACTIVATED" {
		t.Fatalf("activate = %+v", o)
	}
	pc.check(nil, "GENUINE", problem.Genuine, "status")
	upgraded := pcA()
	upgraded.MemoryGB = 32
	os.WriteFile(pc.hw, mustJSON(upgraded), 0o600)
	pc.check(nil, "NOT_GENUINE", problem.HardwareChanged, "status")
	pc.check(nil, "NOT_GENUINE", problem.HardwareChanged, "validate")
}

// keys generate: a count beyond the SKU's serials is refused before
// anything is issued; --json with CSV on stdout is refused; --force gives
// the replaced file mode 0600.
func TestKeysGenerateGuards(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-pro", "retail")
	r := clitest.Run(t, s, nil, "admin", "keys", "generate", "--sku", "photoedit-pro", "--count", "99999999999")
	if r.Code == 0 || !strings.Contains(r.Stderr, "more keys") {
		t.Fatalf("--count 99999999999 = %d %q; want a refusal saying how many are left", r.Code, r.Stderr)
	}
	var sku []map[string]any
	mustRun(t, s, "admin", "sku", "list", "--json").JSON(t, &sku)
	if sku[0]["keys_issued"] != float64(0) {
		t.Fatalf("keys issued after a refused run: %v", sku[0]["keys_issued"])
	}
	if r := clitest.Run(t, s, nil, "admin", "keys", "generate", "--sku", "photoedit-pro", "--count", "2", "--format", "csv", "--json"); r.Code != 2 {
		t.Fatalf("--format csv --json to stdout = %d %q; want a usage error", r.Code, r.Stderr)
	}
	out := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(out, []byte("old\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(out, 0o666)
	mustRun(t, s, "admin", "keys", "generate", "--sku", "photoedit-pro", "--count", "3", "--out", out, "--force")
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("--force output mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

// Bad serve settings are refused at once, from flags and from the
// environment alike; the server's request id reaches the CLI's errors;
// blank names and unknown filters are refused.
func TestBadSettingsAndNamesRefused(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--max-body", "0"}, "--max-body"},
		{nil, []string{"--expiry-sweep", "1ms"}, "--expiry-sweep"},
		{[]string{"ECHT_MAX_BODY=-1"}, nil, "--max-body"},
		{[]string{"ECHT_MAX_BODY=abc"}, nil, "ECHT_MAX_BODY"},
		{[]string{"ECHT_REQUEST_TIMEOUT=soon"}, nil, "ECHT_REQUEST_TIMEOUT"},
		// Only 0 turns a rate limit off; nothing else does so silently.
		{[]string{"ECHT_CHECK_RATE_LIMIT=-5"}, nil, "--check-rate-limit"},
		{nil, []string{"--rate-limit", "NaN"}, "--rate-limit"},
		{nil, []string{"--request-timeout", "0"}, "--request-timeout"},
		{[]string{"ECHT_TICKET_TTL=-1h"}, nil, "--ticket-ttl"},
		{nil, []string{"--public-url", "ftp://x"}, "--public-url"},
	} {
		r := clitest.Run(t, nil, tc.env, append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, tc.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("serve %v %v = %d %q; want exit 2 naming %s", tc.env, tc.args, r.Code, r.Stderr, tc.want)
		}
	}
	s := clitest.StartServer(t, "", nil)
	r := clitest.Run(t, s, nil, "admin", "sku", "create", "x", "--product", "nope", "--edition", "E", "--channel", "retail")
	if r.Code == 0 || !strings.Contains(r.Stderr, "request id: ") {
		t.Fatalf("admin error = %d %q; want the request id", r.Code, r.Stderr)
	}
	// Names of only spaces are no names.
	if r := clitest.Run(t, s, nil, "admin", "product", "create", "blank", "--name", "   "); r.Code == 0 || !strings.Contains(r.Stderr, "only spaces") {
		t.Fatalf("product with a blank name = %d %q", r.Code, r.Stderr)
	}
	// A product id names a directory on every device: none that Windows
	// keeps for a device, none that it would strip of a trailing dot.
	for _, id := range []string{"nul", "com1", "con.txt", "photo."} {
		if r := clitest.Run(t, s, nil, "admin", "product", "create", id, "--name", "X"); r.Code == 0 || !strings.Contains(r.Stderr, "INVALID_REQUEST") || !strings.Contains(r.Stderr, "Windows") {
			t.Errorf("product create %q = %d %s; want INVALID_REQUEST saying why", id, r.Code, r.Stderr)
		}
	}
	mustRun(t, s, "admin", "product", "create", "p1", "--name", "P")
	if r := clitest.Run(t, s, nil, "admin", "sku", "create", "s1", "--product", "p1", "--edition", "  ", "--channel", "retail"); r.Code == 0 || !strings.Contains(r.Stderr, "only spaces") {
		t.Fatalf("SKU with a blank edition = %d %q", r.Code, r.Stderr)
	}
	// A filter naming no product is a typo, not an empty list.
	if r := clitest.Run(t, s, nil, "admin", "sku", "list", "--product", "nope"); r.Code != problem.ProductNotFound.ExitCode() {
		t.Fatalf("sku list --product nope = %d %q; want PRODUCT_NOT_FOUND", r.Code, r.Stderr)
	}
}

// A server stopped during a long key generation: every batch it issued
// (its audit log says) is in the output file, also the one that was in
// flight when the first error came.
func TestKeyGenerationStoppedKeepsIssuedBatches(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-pro", "retail")
	out := filepath.Join(t.TempDir(), "keys.txt")
	cmd := exec.Command(clitest.Binary(t), "admin", "keys", "generate", "--sku", "photoedit-pro", "--count", "400000", "--out", out)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "ECHT_SERVER=" + s.URL, "ECHT_TOKEN=" + s.Token}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(out); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no key written in 30 s")
		}
	}
	s.Stop() // graceful: the requests under way are answered
	_ = cmd.Wait()
	s.Restart()
	var entries []struct {
		Detail struct {
			Count int `json:"count"`
		} `json:"detail"`
	}
	mustRun(t, s, "admin", "audit", "--action", "keys.generate", "--json").JSON(t, &entries)
	issued := 0
	for _, e := range entries {
		issued += e.Detail.Count
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	written := strings.Count(string(b), "\n")
	if issued == 0 || written != issued {
		t.Fatalf("the server issued %d keys in %d batches; the file holds %d", issued, len(entries), written)
	}
	t.Logf("%d keys issued and written before the server stopped", written)
}

// A command line that is wrong shows that command's usage line and where
// its help is, not only cobra's terse complaint.
func TestUsageErrorShowsTheCommandsUsage(t *testing.T) {
	r := clitest.Run(t, nil, nil, "admin", "product", "create")
	if r.Code != 2 || !strings.Contains(r.Stderr, "usage: echt admin product create ID --name NAME") || !strings.Contains(r.Stderr, "echt admin product create --help") {
		t.Errorf("admin product create without an id = %d %q", r.Code, r.Stderr)
	}
}

// An address that is not an echt server (another web server, a proxy's
// error page) is named as such, not reported as a bare status to retry.
func TestAdminAtAnotherWebServer(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotImplemented)
		_, _ = w.Write([]byte("<html>Unsupported method</html>"))
	}))
	defer other.Close()
	r := clitest.Run(t, nil, nil, "admin", "product", "create", "foo", "--name", "Foo", "--server", other.URL, "--token", "echt_x")
	if r.Code == 0 || !strings.Contains(r.Stderr, "not as an echt server does") || !strings.Contains(r.Stderr, "check --server") || strings.Contains(r.Stderr, "request id") {
		t.Errorf("admin against another web server = %d %s; want it named as not an echt server, with what to check", r.Code, r.Stderr)
	}
	r = clitest.Run(t, nil, nil, "bench", "--server", other.URL, "--token", "echt_x", "--duration", "1s")
	if r.Code == 0 || !strings.Contains(r.Stderr, "not as an echt server does") || !strings.Contains(r.Stderr, "check --server") {
		t.Errorf("bench against another web server = %d %s; want it named as not an echt server, with what to check", r.Code, r.Stderr)
	}
}
