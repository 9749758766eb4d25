package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/cli/clitest"
	"github.com/echt-dev/echt/internal/reasons"
	"github.com/echt-dev/echt/problem"
)

// TestAgentSpeaksDutch runs the agent's story in Dutch, chosen by --lang
// and by the environment's LANG: its sentences, labels, the failure's
// title and remedy are Dutch; English stays the default.
func TestAgentSpeaksDutch(t *testing.T) {
	s, key, p := oneKey(t, "photoedit-pro", "retail")
	hwA, storeA := p.pc("a", pcA())
	hwB, storeB := p.pc("b", pcB())
	dutch := func(r clitest.Result, what string, want ...string) {
		t.Helper()
		out := r.Stdout + r.Stderr
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: no %q in:\n%s", what, w, out)
			}
		}
		for _, english := range []string{"what to do", "more help", "activation id", "is activated", "product key:"} {
			if strings.Contains(out, english) {
				t.Errorf("%s: English %q in:\n%s", what, english, out)
			}
		}
	}

	r := clitest.Run(t, s, nil, "activate", key, "--hardware", hwA, "--store", storeA, "--lang", "nl")
	if r.Code != 0 {
		t.Fatalf("activate = %d %s", r.Code, r.Stderr)
	}
	dutch(r, "activate", "is geactiveerd", "activerings-id:")

	r = clitest.Run(t, s, []string{"LANG=nl_NL.UTF-8"}, "status", "--hardware", hwA, "--store", storeA)
	if r.Code != 0 {
		t.Fatalf("status = %d %s", r.Code, r.Stderr)
	}
	dutch(r, "status with LANG=nl_NL.UTF-8", "GENUINE", "offline controle", "productcode:", "activerings-id:")

	// PC-B with the same retail key: the code, its Dutch title and remedy.
	r = clitest.Run(t, s, nil, "activate", key, "--hardware", hwB, "--store", storeB, "--lang", "nl")
	entry, ok := reasons.Lookup(problem.KeyInUseElsewhere, "nl")
	if r.Code != problem.KeyInUseElsewhere.ExitCode() || !ok || entry.Lang != "nl" {
		t.Fatalf("PC-B = %d %s (catalog entry %v)", r.Code, r.Stderr, ok)
	}
	dutch(r, "PC-B", "KEY_IN_USE_ELSEWHERE", entry.Title, "wat u kunt doen:", "meer hulp:")

	r = clitest.Run(t, s, nil, "deactivate", "--hardware", hwA, "--store", storeA, "--lang", "nl")
	if r.Code != 0 {
		t.Fatalf("deactivate = %d %s", r.Code, r.Stderr)
	}
	dutch(r, "deactivate", "is gedeactiveerd")

	// Without a language, English.
	r = clitest.Run(t, s, nil, "activate", key, "--hardware", hwB, "--store", storeB)
	if r.Code != 0 || !strings.Contains(r.Stdout, "is activated") || !strings.Contains(r.Stdout, "activation id: ") {
		t.Fatalf("English activate = %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestWatchReminds runs echt watch on a deactivated copy: it reminds at
// every interval, counting, in the reader's language; with --json one
// object per reminder.
func TestWatchReminds(t *testing.T) {
	s, key, p := oneKey(t, "photoedit-pro", "retail")
	hw, store := p.pc("a", pcA())
	mustRun(t, s, "activate", key, "--hardware", hw, "--store", store)
	mustRun(t, s, "deactivate", "--hardware", hw, "--store", store)

	watch := func(args ...string) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, clitest.Binary(t), append([]string{"watch", "--hardware", hw, "--store", store, "--product", "photoedit", "--interval", "1s"}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANG=C", "ECHT_SERVER=" + s.URL}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		sc := bufio.NewScanner(out)
		for len(lines) < 2 && sc.Scan() {
			lines = append(lines, sc.Text())
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if len(lines) < 2 {
			t.Fatalf("watch %v: %d reminders: %q; stderr %s", args, len(lines), lines, stderr.String())
		}
		return lines
	}

	entry, _ := reasons.Lookup(problem.NotActivated, "nl")
	for i, line := range watch("--lang", "nl") {
		// Deactivated, the copy has no license left to name the product.
		want := fmt.Sprintf("herinnering %d: photoedit is niet legitiem (NOT_ACTIVATED): %s. %s", i+1, entry.Title, entry.Remedy)
		if !strings.HasPrefix(line, want) {
			t.Errorf("reminder %d = %q, want %q", i+1, line, want)
		}
	}
	for i, line := range watch("--json") {
		var r struct {
			Reminder int    `json:"reminder"`
			Status   string `json:"status"`
			Reason   string `json:"reason"`
			Remedy   string `json:"remedy"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Reminder != i+1 || r.Status != "NOT_ACTIVATED" || r.Reason != "NOT_ACTIVATED" || r.Remedy == "" {
			t.Errorf("JSON reminder %d = %q (%v)", i+1, line, err)
		}
	}
}

// TestValidateInDutchAndLastServer: validate passes the reader's language
// to the server, so the verdict's remedy is Dutch; and a key activated
// without --product or --server goes to the server the device activated
// with (ECHT_SERVER unset).
func TestValidateInDutchAndLastServer(t *testing.T) {
	s, key, p := oneKey(t, "photoedit-pro", "retail")
	keys := genKeys(t, s, "photoedit-pro", "1")
	hw, store := p.pc("a", pcA())
	mustRun(t, s, "activate", key, "--hardware", hw, "--store", store)
	mustRun(t, s, "admin", "keys", "block", key, "--reason", "refunded")
	entry, _ := reasons.Lookup(problem.KeyBlocked, "nl")
	for _, args := range [][]string{{"--lang", "nl"}, {"--lang", "nl", "--json"}} {
		r := clitest.Run(t, s, nil, append([]string{"validate", "--hardware", hw, "--store", store}, args...)...)
		if r.Code != problem.KeyBlocked.ExitCode() && r.Code != 54 || !strings.Contains(r.Stdout, entry.Remedy) {
			t.Fatalf("validate %v = %d; no Dutch remedy %q in:\n%s%s", args, r.Code, entry.Remedy, r.Stdout, r.Stderr)
		}
	}
	// The verdict stored in Dutch reads in English for an English reader.
	en, _ := reasons.Lookup(problem.KeyBlocked, "en")
	for _, args := range [][]string{{"--lang", "en"}, {"--lang", "en", "--json"}} {
		r := clitest.Run(t, s, []string{"LANG=C.UTF-8"}, append([]string{"status", "--hardware", hw, "--store", store}, args...)...)
		if !strings.Contains(r.Stdout, en.Remedy) || strings.Contains(r.Stdout, entry.Remedy) {
			t.Fatalf("status %v after a Dutch verdict: want the English remedy %q only, got:\n%s%s", args, en.Remedy, r.Stdout, r.Stderr)
		}
	}

	// Another key on the same device, with no server named anywhere.
	r := clitest.Run(t, nil, []string{"ECHT_TOKEN=" + s.Token}, "activate", keys[0], "--hardware", hw, "--store", store, "--json")
	var out struct{ Reason string }
	r.JSON(t, &out)
	if r.Code != 0 || out.Reason != "ACTIVATED" {
		t.Fatalf("activate a second key without --server = %d %+v %s", r.Code, out, r.Stderr)
	}
}
