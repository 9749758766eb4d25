package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/cli/clitest"
	"github.com/echt-dev/echt/internal/loadgen"
)

// TestCrashDuringActivations runs an activation storm against the built
// server, kills it with SIGKILL at a random moment, restarts it, and checks
// that every acknowledged activation is stored, that no key holds more
// seats than its limit, and that SQLite's integrity check passes. It does
// this ECHT_CRASH_KILLS times (default 20; bench/crash.sh runs hundreds).
func TestCrashDuringActivations(t *testing.T) {
	kills := 20
	if v, err := strconv.Atoi(os.Getenv("ECHT_CRASH_KILLS")); err == nil && v > 0 {
		kills = v
	}
	if testing.Short() {
		kills = 3
	}
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-mak", "volume-mak", "--max-devices", fmt.Sprint(crashSeats))
	var product struct {
		HardwareSalt []byte `json:"hardware_salt"`
	}
	getJSON(t, s.URL+"/v1/products/photoedit", &product)

	acked := map[string]bool{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	idle := 0 // storms that had no activation acknowledged
	for kill := 1; kill <= kills; kill++ {
		// Fresh keys for every storm, so that seats never run out and
		// every kill lands among writes (with a few keys filled to their
		// limit, so the seat check is under way too).
		keys := genKeys(t, s, "photoedit-mak", "1000")
		before := len(acked)
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var wg sync.WaitGroup
		url := s.URL
		for w := 0; w < 16; w++ {
			wg.Add(1)
			seed := rng.Uint64()
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(w)))
				client := &http.Client{Timeout: 10 * time.Second}
				for ctx.Err() == nil {
					prof := loadgen.RandomDevice().Hash(product.HardwareSalt)
					body, _ := json.Marshal(api.ActivateRequest{Key: keys[rng.IntN(len(keys))], Hardware: prof, Nonce: "crash"})
					resp, err := client.Post(url+"/v1/activations", "application/json", bytes.NewReader(body))
					if err != nil {
						return // the server is gone
					}
					var out api.ActivateResponse
					err = json.NewDecoder(resp.Body).Decode(&out)
					resp.Body.Close()
					if resp.StatusCode == http.StatusCreated && err == nil && out.ActivationID != "" {
						mu.Lock()
						acked[out.ActivationID] = true
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(100+rng.IntN(700)) * time.Millisecond)
		s.Kill()
		cancel()
		wg.Wait()
		checkCrashState(t, s.Data, acked, kill)
		if len(acked) == before {
			idle++
		}
		s.Restart()
	}
	t.Logf("%d kills, %d acknowledged activations, all present", kills, len(acked))
	if idle > kills/4 {
		t.Fatalf("%d of %d storms had no activation acknowledged before the kill: the test killed an idle server", idle, kills)
	}
}

// crashSeats is the seat limit of the crash test's keys.
const crashSeats = 5

func checkCrashState(t *testing.T, data string, acked map[string]bool, kill int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "echt.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("kill %d: integrity_check = %q, %v", kill, integrity, err)
	}
	stored := map[string]bool{}
	rows, err := db.Query("SELECT id FROM activations")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		stored[id] = true
	}
	rows.Close()
	for id := range acked {
		if !stored[id] {
			t.Fatalf("kill %d: acknowledged activation %s lost", kill, id)
		}
	}
	var over int
	if err := db.QueryRow(`SELECT count(*) FROM (SELECT key_hash FROM activations WHERE status = 'active' GROUP BY key_hash HAVING count(*) > ?)`, crashSeats).Scan(&over); err != nil || over != 0 {
		t.Fatalf("kill %d: %d keys over their seat limit (%v)", kill, over, err)
	}
	var mismatched int
	if err := db.QueryRow(`SELECT count(*) FROM product_keys k WHERE k.active_activations != (SELECT count(*) FROM activations a WHERE a.key_hash = k.hash AND a.status = 'active')`).Scan(&mismatched); err != nil || mismatched != 0 {
		t.Fatalf("kill %d: %d keys whose seat counter disagrees with their activations (%v)", kill, mismatched, err)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(fmt.Errorf("GET %s: %w", url, err))
	}
}
