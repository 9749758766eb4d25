// Package cli is the echt command line: the server (serve), the admin
// commands that talk to it over the API, and the agent commands an end
// user runs. It is the only package that reads flags, ECHT_* environment
// variables and configuration files.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/echt-dev/echt/internal/reasons"
	"github.com/echt-dev/echt/problem"
)

// Exit codes besides those of problem codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitInterrupted is a run cut short by Ctrl-C (128 + SIGINT, as
	// shells report it).
	exitInterrupted = 130
)

// env is the process environment, swappable in tests.
type env struct {
	// wantJSON is set when the command line asks for --json output.
	wantJSON bool
	// command is the name of the command that ran (for usage errors).
	command string
	// usage is the command's usage line and its path, for usage errors.
	usage, path string
	stdout      io.Writer
	stderr      io.Writer
	stdin       io.Reader
	getenv      func(string) string
}

// Main runs the echt command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, stdin: os.Stdin, getenv: os.Getenv}
	e.wantJSON = slices.Contains(args, "--json") || slices.Contains(args, "--json=true")
	root := e.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetContext(ctx)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	if cmd != nil {
		e.command = cmd.Name()
		e.usage, e.path = cmd.UseLine(), cmd.CommandPath()
	}
	return e.report(err)
}

// usageError marks a mistake in how a command was called.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError carries an exit code for errors that were already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func (e *env) report(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		if e.wantJSON {
			// A script that asked for JSON gets one object on stdout.
			_ = e.printJSON(usageJSON(e.command, err.Error()))
		}
		e.usageMessage(err)
		return exitUsage
	}
	var pe *problem.Error
	if errors.As(err, &pe) {
		// The server's request id, which its logs carry: what support asks for.
		rid, _ := pe.Extra["request_id"].(string)
		if e.wantJSON {
			out := map[string]string{"reason": string(pe.Code), "detail": firstNonEmpty(pe.Detail, pe.Code.Title()), "remedy": hintFor(pe)}
			if rid != "" {
				out["request_id"] = rid
			}
			_ = e.printJSON(out)
		}
		fmt.Fprintf(e.stderr, "echt: %s: %s\n", pe.Code, firstNonEmpty(pe.Detail, pe.Code.Title()))
		if hint := hintFor(pe); hint != "" {
			fmt.Fprintf(e.stderr, "  what to do: %s\n", hint)
		}
		if rid != "" {
			fmt.Fprintf(e.stderr, "  request id: %s\n", rid)
		}
		return pe.Code.ExitCode()
	}
	if e.wantJSON {
		// Still one object for a script, though the failure has no code.
		_ = e.printJSON(map[string]string{"reason": "FAILED", "detail": err.Error(), "remedy": "read the detail: it says what went wrong"})
	}
	fmt.Fprintf(e.stderr, "echt: %v\n", err)
	return exitFailure
}

// usageRemedy is what to do about a usage error, in JSON output.
const usageRemedy = "correct the command line; see echt <command> --help"

// usageMessage tells a person on stderr that the command line was wrong.
func (e *env) usageMessage(err error) {
	if e.path == "" || e.path == "echt" {
		fmt.Fprintf(e.stderr, "echt: %v\nRun 'echt --help' or 'echt <command> --help' for usage.\n", err)
		return
	}
	fmt.Fprintf(e.stderr, "echt: %v\n  usage: %s\nRun '%s --help' for more.\n", err, e.usage, e.path)
}

func hintFor(pe *problem.Error) string {
	if h, ok := pe.Extra["hint"].(string); ok && h != "" {
		return h
	}
	if r, ok := pe.Extra["remedy"].(map[string]any); ok {
		if t, ok := r["text"].(string); ok && t != "" {
			return t
		}
	}
	switch pe.Code {
	case problem.Unauthorized:
		return "pass --token or set ECHT_TOKEN (the first admin token is in DATA/admin-token of the server)"
	case problem.Forbidden:
		return "use a token with a role that may do this (admin tokens may do everything)"
	case problem.ServerUnreachable:
		return "check that 'echt serve' is running and that --server (or ECHT_SERVER) points at it"
	case problem.StoreUnavailable, problem.Unavailable:
		return "the server is having trouble; try again in a few seconds"
	}
	return reasons.Remedy(pe.Code, reasons.DefaultLang)
}

// checkServerURL refuses a server URL the HTTP client could not use, with
// what to write instead.
func checkServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--server %q is not a server URL: write it with http:// or https://, for example http://127.0.0.1:8080", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return usagef("--server %q is not a server URL: give the server's base URL without a query (?…) or fragment (#…), for example http://127.0.0.1:8080", s)
	}
	return nil
}

// codeAndDetail is an error's code and what to show of it: a problem's
// detail (or its code's title), else the error's text.
func codeAndDetail(err error) (problem.Code, string) {
	code := problem.CodeOf(err)
	var pe *problem.Error
	if errors.As(err, &pe) {
		return code, firstNonEmpty(pe.Detail, code.Title())
	}
	return code, err.Error()
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "required flag", "bad flag syntax"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func (e *env) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "echt",
		Short: "echt: product activation and genuine validation for software publishers",
		Long: `echt issues product keys, activates copies on devices, and tells whether a
copy is genuine and how to fix it when it is not.

Publisher:  echt serve, echt admin ..., echt bench
End user:   echt activate, echt status, echt validate, echt watch, echt deactivate, echt hwid

Every flag can also be set by the environment variable named in its help.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetVersionTemplate("echt {{.Version}}\n")
	// Every command that prints JSON has its own --json; this one only lets
	// it come before the command name (echt --json status).
	root.PersistentFlags().Bool("json", false, "print machine-readable JSON (on commands that support it)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		return e.bindEnv(cmd, envNames)
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err.Error()} })
	root.AddCommand(e.serveCmd(), e.adminCmd(), e.benchCmd())
	for _, c := range e.agentCmds() {
		root.AddCommand(c)
	}
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command group (echt admin sku, …)
// refuse a subcommand it does not have, instead of printing its help and
// exiting 0.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if c.HasParent() && c.HasSubCommands() && !c.Runnable() {
		c.Args = cobra.NoArgs
		c.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
	}
}

// envNames maps flag names to the environment variables that set them.
var envNames = map[string]string{
	"server":           "ECHT_SERVER",
	"token":            "ECHT_TOKEN",
	"addr":             "ECHT_ADDR",
	"data":             "ECHT_DATA",
	"db":               "ECHT_DB",
	"master-key-file":  "ECHT_MASTER_KEY_FILE",
	"log-format":       "ECHT_LOG_FORMAT",
	"log-level":        "ECHT_LOG_LEVEL",
	"log-requests":     "ECHT_LOG_REQUESTS",
	"rate-limit":       "ECHT_RATE_LIMIT",
	"check-rate-limit": "ECHT_CHECK_RATE_LIMIT",
	"trusted-proxies":  "ECHT_TRUSTED_PROXIES",
	"public-url":       "ECHT_PUBLIC_URL",
	"store":            "ECHT_STORE",
	"hardware":         "ECHT_HARDWARE_FILE",
	"product":          "ECHT_PRODUCT",
	"root-key":         "ECHT_ROOT_KEY",
	"max-body":         "ECHT_MAX_BODY",
	"request-timeout":  "ECHT_REQUEST_TIMEOUT",
	"shutdown-grace":   "ECHT_SHUTDOWN_GRACE",
	"debug-addr":       "ECHT_DEBUG_ADDR",
	"expiry-sweep":     "ECHT_EXPIRY_SWEEP",
	"ticket-ttl":       "ECHT_TICKET_TTL",
}

// Version is the echt version, set at build time with -ldflags.
var Version = "dev"

// bindEnv makes every flag of fs that has an env name fall back to that
// environment variable when not given on the command line.
func (e *env) bindEnv(cmd *cobra.Command, names map[string]string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		name, ok := names[f.Name]
		if !ok || f.Changed {
			return
		}
		if v := e.getenv(name); v != "" {
			if serr := f.Value.Set(v); serr != nil && err == nil {
				err = usagef("environment variable %s=%q: %v", name, v, serr)
			}
			f.Changed = true
		}
	})
	return err
}

// unreachable turns a transport error into SERVER_UNREACHABLE.
func unreachable(server string, err error) error {
	var ne net.Error
	var ue *url.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) || errors.As(err, &ue) {
		return problem.Wrap(problem.ServerUnreachable, fmt.Sprintf("cannot reach the echt server at %s", server), err)
	}
	return err
}
