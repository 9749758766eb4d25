package cli

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every environment variable a flag's help names is the one that sets it:
// a variable shown in --help but not bound was silently ignored.
func TestEveryDocumentedEnvironmentVariableIsBound(t *testing.T) {
	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	named := regexp.MustCompile(`\(env (ECHT_[A-Z_]+)\)`)
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			m := named.FindStringSubmatch(f.Usage)
			if m == nil {
				return
			}
			n++
			if envNames[f.Name] != m[1] {
				t.Errorf("echt %s --%s names %s in its help, but %q is bound", c.CommandPath(), f.Name, m[1], envNames[f.Name])
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(e.rootCmd())
	if n < 15 {
		t.Fatalf("only %d flags name an environment variable", n)
	}
}

// The bootstrap admin token found in the data directory goes only to a
// server on this machine.
func TestLocalAdminTokenOnlyForThisMachine(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin-token"), []byte("echt_secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string {
		if k == "ECHT_DATA" {
			return dir
		}
		return ""
	}}
	for server, want := range map[string]string{
		"http://127.0.0.1:8080":                      "echt_secret",
		"http://localhost:8080":                      "echt_secret",
		"http://[::1]:8080,http://127.0.0.2:8081":    "echt_secret",
		"http://10.0.0.5:8080":                       "",
		"https://activation.example.com":             "",
		"http://127.0.0.1:8080,http://db.internal:1": "",
		"http://127.0.0.1.nip.io:8080":               "",
	} {
		if got, _ := e.localAdminToken(server); got != want {
			t.Errorf("localAdminToken(%q) = %q, want %q", server, got, want)
		}
	}
}
