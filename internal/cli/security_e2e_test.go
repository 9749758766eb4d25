package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echt-dev/echt/internal/cli/clitest"
	"github.com/echt-dev/echt/internal/keyring"
	"github.com/echt-dev/echt/internal/store/sqlite"
)

// A full run (admin work, activations, validations, failures, bad tokens)
// with every request logged at debug level: no product key, token, master
// key, private key or raw hardware value reaches the logs.
func TestNoSecretsInLogs(t *testing.T) {
	s := clitest.StartServer(t, "", nil, "--log-requests", "--log-level", "debug", "--log-format", "json")
	setupProduct(t, s, "photoedit-pro", "retail")
	keys := genKeys(t, s, "photoedit-pro", "3")
	var tok map[string]any
	mustRun(t, s, "admin", "token", "create", "--role", "support", "--json").JSON(t, &tok)
	support := tok["token"].(string)

	a := newDevice(t, s, "a", pcA())
	b := newDevice(t, s, "b", pcB())
	a.activate(keys[0])
	b.activate(keys[0]) // in use elsewhere
	a.run(nil, "validate")
	a.run(nil, "activate", keys[1][:20]+"BBBBB") // a typo or a forgery
	mustRun(t, s, "admin", "keys", "show", keys[1])
	mustRun(t, s, "admin", "keys", "block", keys[2], "--reason", "leaked")
	clitest.Run(t, s, []string{"ECHT_TOKEN=" + support}, "admin", "product", "create", "x")
	clitest.Run(t, s, []string{"ECHT_TOKEN=" + support + "x"}, "admin", "product", "list")
	mustRun(t, s, "admin", "token", "revoke", tok["id"].(string))
	s.Stop()

	logs := s.Logs()
	// The first start prints the bootstrap token once on stdout, by design;
	// the structured logs (stderr) are what must stay clean.
	var logLines []string
	for _, l := range strings.Split(logs, "\n") {
		if !strings.HasPrefix(l, "[stdout]") {
			logLines = append(logLines, l)
		}
	}
	structured := strings.Join(logLines, "\n")
	if !strings.Contains(structured, `"msg":"request"`) {
		t.Fatalf("requests were not logged; the test would prove nothing:\n%s", structured)
	}

	master, _ := os.ReadFile(filepath.Join(s.Data, "master.key"))
	secrets := map[string]string{"admin token": s.Token, "support token": support, "master key": strings.TrimSpace(string(master))}
	for i, k := range keys {
		secrets["key "+string(rune('0'+i))] = k
		secrets["key without dashes "+string(rune('0'+i))] = strings.ReplaceAll(k, "-", "")
		secrets["key in lower case "+string(rune('0'+i))] = strings.ToLower(k)
	}
	for _, raw := range []string{pcA().SystemUUID, pcA().BoardSerial, pcA().Disks[0], pcA().MACs[0], pcB().OSInstallID} {
		secrets["hardware value "+raw] = raw
	}
	// The private keys, opened with the master key.
	mk, err := keyring.ParseMasterKey(string(master))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(s.Data, "echt.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sks, _ := st.SigningKeys(context.Background())
	for _, k := range sks {
		seed, err := mk.Open("key/"+k.ID, k.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		secrets["private key "+k.ID+" (base64)"] = base64.StdEncoding.EncodeToString(seed)
		secrets["private key "+k.ID+" (hex)"] = hex.EncodeToString(seed)
	}
	for name, secret := range secrets {
		if secret != "" && strings.Contains(structured, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}

// The public key check answers enumeration with 429 and says nothing about
// a key's owner: no device, no activation, no account.
func TestPublicCheckEnumeration(t *testing.T) {
	s := clitest.StartServer(t, "", nil, "--check-rate-limit", "30")
	setupProduct(t, s, "photoedit-pro", "retail")
	keys := genKeys(t, s, "photoedit-pro", "2")
	newDevice(t, s, "a", pcA()).activate(keys[0])

	check := func(key string) (int, map[string]any, http.Header) {
		body, _ := json.Marshal(map[string]string{"key": key})
		resp, err := http.Post(s.URL+"/v1/keys/check", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, resp.Header
	}
	allowed := map[string]bool{"genuine": true, "status": true, "reason": true, "product": true, "product_name": true, "edition": true, "channel": true}
	code, used, _ := check(keys[0])
	_, unused, _ := check(keys[1])
	if code != 200 || used["status"] != "activated" || used["genuine"] != true || unused["status"] != "unused" {
		t.Fatalf("check = %v / %v", used, unused)
	}
	for _, out := range []map[string]any{used, unused} {
		for k := range out {
			if !allowed[k] {
				t.Errorf("the public check reveals %q: %v", k, out)
			}
		}
	}
	// Enumeration: a burst from one address is cut off.
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		code, out, h := check("BCDFG-HJKMP-QRTVW-XY234-" + []string{"6789B", "6789C", "6789D", "6789F"}[i%4])
		if code == 429 {
			limited = true
			if h.Get("Retry-After") == "" || out["code"] != "RATE_LIMITED" {
				t.Fatalf("429 without Retry-After or code: %v %v", h, out)
			}
		}
	}
	if !limited {
		t.Fatal("40 checks in a burst were all answered; want 429")
	}
}
