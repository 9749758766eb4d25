package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/cli/clitest"
	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/store/storetest"
)

// masterKeyFile writes a fresh master key (32 random bytes, base64, as
// `head -c 32 /dev/urandom | base64` makes it) and returns its path.
func masterKeyFile(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(b)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startNodes starts n `echt serve` processes on the PostgreSQL database
// dbURL with the same master key, one after the other, each with its own
// data directory. Every node gets the admin token of the first.
func startNodes(t *testing.T, dbURL, keyFile string, n int, extra ...string) []*clitest.Server {
	t.Helper()
	args := append([]string{"--db", dbURL, "--master-key-file", keyFile}, extra...)
	nodes := make([]*clitest.Server, n)
	for i := range nodes {
		nodes[i] = clitest.StartServer(t, "", nil, args...)
	}
	for _, s := range nodes[1:] {
		s.Token = nodes[0].Token
	}
	return nodes
}

// httpClient is a client for many concurrent requests to a few servers.
func httpClient() *http.Client {
	return &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second},
	}
}

// reply is an HTTP response, read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// code returns the problem code of an error response ("" if none).
func (r reply) code() string {
	var d struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.body, &d)
	return d.Code
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body)) }

// call sends a JSON request (in may be nil) and reads the response.
func call(ctx context.Context, c *http.Client, method, url, token string, in any) (reply, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return reply{}, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}, err
}

// mustCall is call for requests that must get the status want.
func mustCall(t *testing.T, c *http.Client, method, url, token string, in any, want int) reply {
	t.Helper()
	r, err := call(context.Background(), c, method, url, token, in)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.status != want {
		t.Fatalf("%s %s = %s, want %d", method, url, r, want)
	}
	return r
}

// productSalt returns the hardware salt of a product from its public info.
func productSalt(t *testing.T, c *http.Client, s *clitest.Server, product string) []byte {
	t.Helper()
	var p api.ProductInfo
	if err := json.Unmarshal(mustCall(t, c, "GET", s.URL+"/v1/products/"+product, "", nil, http.StatusOK).body, &p); err != nil {
		t.Fatal(err)
	}
	return p.HardwareSalt
}

// machine is simulated device number i of a series: every component is
// its own, so no two machines share an anchor.
func machine(series string, i int) hardware.Raw {
	id := fmt.Sprintf("%s-%06d", series, i)
	sum := 0
	for _, c := range series {
		sum = sum*31 + int(c)
	}
	return hardware.Raw{
		SystemUUID:  "uuid-" + id,
		BoardSerial: "board-" + id,
		Disks:       []string{"disk-" + id},
		MACs:        []string{fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", byte(sum), byte(sum>>8), byte(i>>16), byte(i>>8), byte(i))},
		CPU:         "Test CPU",
		MemoryGB:    16,
		OSInstallID: "os-" + id,
	}
}

func nonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func activateReq(key string, hw hardware.Profile) api.ActivateRequest {
	return api.ActivateRequest{Key: key, Hardware: hw, Nonce: nonce()}
}

// Three nodes on one PostgreSQL database: seat limits hold across them, a
// key blocked through one is refused by another within a second, and an
// activation through one is seen by another.
func TestMultiNode(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	nodes := startNodes(t, dbURL, masterKeyFile(t), 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	// Only the node that initialised the database has an admin token file.
	if n1.Token == "" || !strings.Contains(n1.Logs(), "created the first admin token") {
		t.Fatalf("node 1 did not initialise the database:\n%s", n1.Logs())
	}
	for i, s := range nodes[1:] {
		if _, err := os.Stat(filepath.Join(s.Data, "admin-token")); !os.IsNotExist(err) {
			t.Errorf("node %d (joining) has DATA/admin-token (%v); only the initialising node may write it", i+2, err)
		}
		if _, err := os.Stat(filepath.Join(s.Data, "master.key")); !os.IsNotExist(err) {
			t.Errorf("node %d made its own master key (%v); with PostgreSQL the key comes from --master-key-file", i+2, err)
		}
		if strings.Contains(s.Logs(), "admin token") {
			t.Errorf("node %d printed an admin token:\n%s", i+2, s.Logs())
		}
	}

	// The catalog, through the CLI of node 2: a 5-device volume key SKU.
	setupProduct(t, n2, "photoedit-mak", "volume-mak", "--max-devices", "5")
	const runs = 20
	keys := genKeys(t, n2, "photoedit-mak", fmt.Sprint(runs+2))
	if len(keys) != runs+2 {
		t.Fatalf("generated %d keys, want %d", len(keys), runs+2)
	}
	c := httpClient()
	salt := productSalt(t, c, n3, "photoedit")

	// 300 devices at once activate one 5-device key, round-robin over the
	// three nodes: exactly 5 succeed, every other gets
	// ACTIVATION_LIMIT_REACHED. Twenty runs, a new key each.
	const devices = 300
	passed := 0
	start := time.Now()
	for run := range runs {
		profiles := make([]hardware.Profile, devices)
		for i := range profiles {
			profiles[i] = machine(fmt.Sprintf("run%02d", run), i).Hash(salt)
		}
		var mu sync.Mutex
		outcomes := map[string]int{}
		var wg sync.WaitGroup
		ready := make(chan struct{})
		for i := range devices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ready
				r, err := call(context.Background(), c, "POST", nodes[i%3].URL+"/v1/activations", "", activateReq(keys[run], profiles[i]))
				outcome := ""
				switch {
				case err != nil:
					outcome = "transport error: " + err.Error()
				case r.status == http.StatusCreated:
					outcome = "ACTIVATED"
				case r.status == http.StatusConflict && r.code() == "ACTIVATION_LIMIT_REACHED":
					outcome = "ACTIVATION_LIMIT_REACHED"
				default:
					outcome = r.String()
				}
				mu.Lock()
				outcomes[outcome]++
				mu.Unlock()
			}()
		}
		close(ready)
		wg.Wait()
		if outcomes["ACTIVATED"] != 5 || outcomes["ACTIVATION_LIMIT_REACHED"] != devices-5 {
			t.Errorf("run %d: outcomes %v; want 5 ACTIVATED and %d ACTIVATION_LIMIT_REACHED", run+1, outcomes, devices-5)
			continue
		}
		passed++
	}
	t.Logf("seat limit across 3 nodes: %d of %d runs of %d concurrent activations gave exactly 5 (%.1fs)", passed, runs, devices, time.Since(start).Seconds())

	// An activation through node 2 is seen through node 3.
	dev := machine("moved", 1).Hash(salt)
	var first, again api.ActivateResponse
	_ = json.Unmarshal(mustCall(t, c, "POST", n2.URL+"/v1/activations", "", activateReq(keys[runs], dev), http.StatusCreated).body, &first)
	_ = json.Unmarshal(mustCall(t, c, "POST", n3.URL+"/v1/activations", "", activateReq(keys[runs], dev), http.StatusOK).body, &again)
	if again.Reason != "ALREADY_ACTIVATED" || again.ActivationID != first.ActivationID {
		t.Fatalf("activation via node 2 seen via node 3 as %s %s; want ALREADY_ACTIVATED %s", again.Reason, again.ActivationID, first.ActivationID)
	}

	// A key blocked through node 1 is refused by node 3 within a second,
	// although node 3 has the key cached from an earlier validation.
	hw := machine("blocked", 1).Hash(salt)
	var act api.ActivateResponse
	_ = json.Unmarshal(mustCall(t, c, "POST", n1.URL+"/v1/activations", "", activateReq(keys[runs+1], hw), http.StatusCreated).body, &act)
	validate := func() api.ValidateResponse {
		t.Helper()
		var v api.ValidateResponse
		r := mustCall(t, c, "POST", n3.URL+"/v1/validations", "", api.ValidateRequest{License: act.License, Hardware: hw, Nonce: nonce()}, http.StatusOK)
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := validate(); v.Reason != "GENUINE" {
		t.Fatalf("validation via node 3 before the block = %s %s, want GENUINE", v.Status, v.Reason)
	}
	blockStart := time.Now()
	mustCall(t, c, "POST", n1.URL+"/v1/admin/keys/block", n1.Token, map[string]string{"key": keys[runs+1], "reason": "leaked"}, http.StatusOK)
	acked := time.Since(blockStart)
	for {
		v := validate()
		if v.Reason == "KEY_BLOCKED" {
			break
		}
		if time.Since(blockStart) > 5*time.Second {
			t.Fatalf("node 3 still says %s 5s after the key was blocked through node 1", v.Reason)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(blockStart)
	t.Logf("key blocked through node 1 (acknowledged after %v) refused by node 3 %v after the block request", acked.Round(time.Millisecond), took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("node 3 refused the blocked key after %v, want within 1s", took)
	}

	// A node with another master key cannot open the keyring: it refuses
	// to start rather than serve.
	r := clitest.Run(t, nil, nil, "serve", "--db", dbURL, "--master-key-file", masterKeyFile(t), "--data", t.TempDir(), "--addr", "127.0.0.1:0")
	if r.Code == 0 || !strings.Contains(r.Stderr, "keyring") {
		t.Errorf("node with another master key: exit %d, stderr %q; want a refusal", r.Code, r.Stderr)
	}
}

// A database URL that PostgreSQL refuses for good (an unknown parameter, a
// database that does not exist) stops echt serve at once with what to fix,
// instead of thirty seconds of "not reachable yet".
func TestServeRefusesABadDatabaseURLAtOnce(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/echt_no_such_database"
	for _, tc := range []struct{ url, want string }{
		{dbURL + sep + "no_such_setting=1", "check the URL in --db"},
		{u.String(), "create the database first"},
		{"postgres://postgres@127.0.0.1:notaport/x", "cannot be read"},
	} {
		start := time.Now()
		r := clitest.Run(t, nil, nil, "serve", "--db", tc.url, "--master-key-file", masterKeyFile(t), "--data", t.TempDir(), "--addr", "127.0.0.1:0")
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) || time.Since(start) > 10*time.Second {
			t.Errorf("serve --db %s: exit %d after %v, stderr %q; want a refusal at once saying %q", tc.url, r.Code, time.Since(start).Round(time.Millisecond), r.Stderr, tc.want)
		}
	}
}

// A PostgreSQL node started on the data directory of a SQLite installation
// with an empty database refuses, naming the copy step: it would otherwise
// make a new installation the activated devices do not trust. Once the
// database is initialised, the same directory is fine.
func TestServeRefusesToStartOverASQLiteInstallation(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "echt.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	mk := masterKeyFile(t)
	r := clitest.Run(t, nil, nil, "serve", "--db", dbURL, "--master-key-file", mk, "--data", data, "--addr", "127.0.0.1:0")
	if r.Code == 0 || !strings.Contains(r.Stderr, "echt admin db copy") {
		t.Fatalf("serve over a SQLite installation: exit %d, stderr %q; want a refusal naming echt admin db copy", r.Code, r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "admin-token")); err == nil {
		t.Fatalf("the refused start wrote an admin token")
	}
}
