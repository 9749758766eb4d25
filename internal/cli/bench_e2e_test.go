package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echt-dev/echt/internal/cli/clitest"
	"github.com/echt-dev/echt/problem"
)

func TestMain(m *testing.M) { os.Exit(clitest.Main(m)) }

// echt bench prepares its own product and keys on a fresh server and
// reports every field of its JSON contract.
func TestBenchAgainstFreshServer(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	for _, scenario := range []string{"activate", "validate", "mixed", "public-check"} {
		args := []string{"bench", "--scenario", scenario, "--duration", "1s", "--concurrency", "8", "--keys", "20", "--devices", "50", "--json"}
		if scenario == "validate" {
			args = append(args, "--baseline")
		}
		if scenario == "activate" {
			args = append(args, "--rate", "100") // open loop
		}
		r := clitest.Run(t, s, nil, args...)
		if r.Code != 0 {
			t.Fatalf("bench %s: exit %d: %s", scenario, r.Code, r.Stderr)
		}
		var out struct {
			Scenario  string           `json:"scenario"`
			Requests  int64            `json:"requests"`
			Errors    int64            `json:"errors"`
			RPS       float64          `json:"rps"`
			ByCode    map[string]int64 `json:"errors_by_code"`
			LatencyMS map[string]float64
			Latency   struct {
				P50, P90, P99, P999, Max float64
			} `json:"latency_ms"`
			Baseline *struct {
				Trivial float64 `json:"trivial_rps"`
				Sign    float64 `json:"sign_rps"`
			} `json:"baseline"`
			RatioTrivial float64 `json:"ratio_to_trivial"`
			RatioSign    float64 `json:"ratio_to_sign"`
		}
		r.JSON(t, &out)
		if out.Scenario != scenario || out.Requests == 0 || out.RPS <= 0 || out.Latency.P50 <= 0 || out.Latency.Max < out.Latency.P99 || out.Latency.P99 < out.Latency.P50 {
			t.Fatalf("bench %s = %+v", scenario, out)
		}
		// An open-loop run on a box busy with other tests (the race
		// detector slows the server several times) may fall behind its
		// schedule: NOT_SENT is then the right answer, not a failure.
		if scenario != "public-check" && out.Errors != out.ByCode["NOT_SENT"] {
			t.Fatalf("bench %s: %d errors: %v", scenario, out.Errors, out.ByCode)
		}
		if scenario == "validate" && (out.Baseline == nil || out.Baseline.Trivial <= 0 || out.Baseline.Sign <= 0 || out.RatioTrivial <= 0 || out.RatioSign <= 0) {
			t.Fatalf("bench validate --baseline = %+v", out)
		}
	}
}

// Flags that cannot go together are refused before anything is sent.
func TestBenchRefusesBadFlags(t *testing.T) {
	r := clitest.Run(t, nil, nil, "bench", "--server", "http://127.0.0.1:9", "--rate", "100", "--baseline", "--duration", "1s")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--baseline") || !strings.Contains(r.Stderr, "--rate") {
		t.Fatalf("bench --rate --baseline = %d %q; want exit 2 naming both flags", r.Code, r.Stderr)
	}
	r = clitest.Run(t, nil, nil, "bench", "--server", "http://127.0.0.1:9", "--keys", "1000001", "--duration", "1s")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--keys") || !strings.Contains(r.Stderr, "--keys-file") {
		t.Fatalf("bench --keys 1000001 = %d %q; want exit 2 with what to do instead", r.Code, r.Stderr)
	}
	// A rate no schedule can count would never end.
	r = clitest.Run(t, nil, nil, "bench", "--server", "http://127.0.0.1:9", "--rate", "1e19", "--duration", "1s")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--rate") {
		t.Fatalf("bench --rate 1e19 = %d %q; want exit 2", r.Code, r.Stderr)
	}
	r = clitest.Run(t, nil, nil, "bench", "--server", "http://127.0.0.1:9", "--product", "photoedit", "--duration", "1s")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--keys-file") {
		t.Fatalf("bench --product without --keys-file = %d %q; want exit 2", r.Code, r.Stderr)
	}
	// A keys file is checked line by line before anything is sent (a
	// spreadsheet's byte order mark and the CSV header are no keys).
	dir := t.TempDir()
	bad := filepath.Join(dir, "keys.csv")
	if err := os.WriteFile(bad, []byte("\uFEFFkey,sku\ngarbage,x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = clitest.Run(t, nil, nil, "bench", "--server", "http://127.0.0.1:9", "--keys-file", bad, "--product", "photoedit", "--duration", "1s")
	if r.Code != 2 || !strings.Contains(r.Stderr, "line 2") || !strings.Contains(r.Stderr, "garbage") {
		t.Fatalf("bench --keys-file with a line that is no key = %d %q; want exit 2 naming line 2", r.Code, r.Stderr)
	}
}

// A refused token stops the run before the baselines spend their time.
func TestBenchChecksTheTokenFirst(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	keys := filepath.Join(t.TempDir(), "keys.txt")
	if r := clitest.Run(t, s, nil, "admin", "product", "create", "photoedit", "--name", "PhotoEdit"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	if r := clitest.Run(t, s, nil, "admin", "sku", "create", "pe", "--product", "photoedit", "--edition", "Pro", "--channel", "volume-mak", "--max-devices", "100"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	if r := clitest.Run(t, s, nil, "admin", "keys", "generate", "--sku", "pe", "--count", "2", "--out", keys); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	for _, args := range [][]string{
		{"bench", "--scenario", "validate", "--baseline", "--duration", "30s"},
		{"bench", "--scenario", "activate", "--keys-file", keys, "--product", "photoedit", "--baseline", "--duration", "30s"},
	} {
		r := clitest.Run(t, s, []string{"ECHT_TOKEN=echt_bogus"}, args...)
		if r.Code != 12 || !strings.Contains(r.Stderr, "UNAUTHORIZED") || strings.Contains(r.Stdout, "baseline") {
			t.Fatalf("%v with a wrong token = %d\nstdout: %s\nstderr: %s; want UNAUTHORIZED (12) before any measurement", args, r.Code, r.Stdout, r.Stderr)
		}
		// A token was given: what to do is not to give one.
		if !strings.Contains(r.Stderr, "does not accept the token given") {
			t.Errorf("%v with a wrong token: %s; want it to say the token given was refused", args, r.Stderr)
		}
	}
	// The server's own detail reaches the user, not only its code.
	r := clitest.Run(t, s, nil, "bench", "--scenario", "activate", "--keys-file", keys, "--product", "nope", "--duration", "1s")
	if r.Code != problem.ProductNotFound.ExitCode() || !strings.Contains(r.Stderr, `no product "nope"`) || strings.Contains(r.Stderr, "server's log") {
		t.Errorf("bench with an unknown --product = %d %s; want PRODUCT_NOT_FOUND with the server's detail", r.Code, r.Stderr)
	}
	// Keys of another product are refused before anything is sent: their
	// devices would be hashed with the wrong salt and their seats spent.
	mustRun(t, s, "admin", "product", "create", "videoedit", "--name", "VideoEdit")
	r = clitest.Run(t, s, nil, "bench", "--scenario", "activate", "--keys-file", keys, "--product", "videoedit", "--duration", "1s")
	if r.Code != problem.SKUMismatch.ExitCode() || !strings.Contains(r.Stderr, "is for product photoedit, not --product videoedit") {
		t.Errorf("bench with keys of another product = %d %s; want SKU_MISMATCH naming both products", r.Code, r.Stderr)
	}
	// A blocked key in --keys-file: the devices of a validate run cannot
	// be prepared, and the message says which key and what to change.
	b, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	first := strings.Fields(string(b))[0]
	mustRun(t, s, "admin", "keys", "block", first, "--reason", "leaked")
	r = clitest.Run(t, s, nil, "bench", "--scenario", "validate", "--keys-file", keys, "--product", "photoedit", "--devices", "4", "--duration", "1s")
	if r.Code != problem.KeyBlocked.ExitCode() || !strings.Contains(r.Stderr, "XXXXX-XXXXX-XXXXX-XXXXX-"+first[len(first)-5:]) || !strings.Contains(r.Stderr, "remove this one") {
		t.Errorf("bench validate with a blocked key in --keys-file = %d %s; want KEY_BLOCKED naming the key and what to change", r.Code, r.Stderr)
	}
}

// Without --json, a run shows what it prepares, then a line per second.
func TestBenchShowsProgress(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	r := clitest.Run(t, s, nil, "bench", "--scenario", "validate", "--duration", "1500ms", "--concurrency", "4", "--keys", "5", "--devices", "20")
	if r.Code != 0 {
		t.Fatalf("bench: exit %d: %s", r.Code, r.Stderr)
	}
	for _, want := range []string{"preparing: product bench-", "5 keys", "preparing: activating 20 devices", "requests"} {
		if !strings.Contains(r.Stderr+r.Stdout, want) {
			t.Fatalf("bench output lacks %q:\nstdout: %s\nstderr: %s", want, r.Stdout, r.Stderr)
		}
	}
}
