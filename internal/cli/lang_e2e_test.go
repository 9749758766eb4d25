package cli_test

import (
	"strings"
	"testing"

	"github.com/echt-dev/echt/internal/cli/clitest"
	"github.com/echt-dev/echt/internal/reasons"
	"github.com/echt-dev/echt/problem"
)

// TestAgentSpeaksDutch runs the agent's story in Dutch, chosen by --lang
// and by the environment's LANG: its sentences, labels, the failure's
// title and remedy are Dutch; English stays the default.
func TestAgentSpeaksDutch(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-pro", "retail")
	key := genKeys(t, s, "photoedit-pro", "1")[0]
	p := pcs{t, t.TempDir()}
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
