package cli

import (
	"io"
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
