package cli

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/echt-dev/echt/internal/loadgen"
	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/problem"
)

func (e *env) benchCmd() *cobra.Command {
	var cfg loadgen.Config
	var asJSON bool
	var keysFile string
	cmd := &cobra.Command{
		Use:   "bench --server URL --scenario activate|validate|mixed|public-check",
		Short: "Measure an echt server: throughput, errors and latency percentiles",
		Long: `Drive load at an echt server and report throughput, errors by reason code and
latency percentiles (p50/p90/p99/p99.9/max). It prepares its own product, SKU
and keys through the admin API (so it needs an admin token: --token,
ECHT_TOKEN, or for a server on this machine ./echt-data/admin-token), and sends real requests with
distinct hardware profiles. Requests carry the token, which exempts them
from per-address rate limits.

--concurrency N runs N workers back to back (closed loop). --rate N sends N
requests per second whatever the server does (open loop); latency is then
measured from each request's scheduled start, so queueing is not hidden:
requests in flight at the end get 5 seconds to finish, and those never sent
(every worker was waiting) or unfinished count as errors NOT_SENT and
UNFINISHED. --baseline also measures, on the same server, a trivial JSON
handler and a handler that only signs one Ed25519 message (closed loop, each
as long as --duration, so the whole run takes three times as long), and
reports ratios to them.

Failures of the run itself (no server, a refused token) exit with their
reason's exit code, as JSON with --json.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if cfg.Token == "" {
				cfg.Token, cfg.TokenSource = e.localAdminToken(cfg.Server)
			}
			if cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) {
				return usagef("--rate %v: give a number of requests per second, or 0 for a closed loop with --concurrency workers", cfg.Rate)
			}
			if cfg.Rate > loadgen.MaxRate {
				return usagef("--rate %v: at most %d requests per second; one load generator sends far fewer (measure with --concurrency first)", cfg.Rate, loadgen.MaxRate)
			}
			if cfg.Product != "" && keysFile == "" {
				return usagef("--product names the product of --keys-file; without --keys-file bench prepares a product of its own: drop --product, or give --keys-file")
			}
			for _, v := range []struct {
				flag string
				bad  bool
			}{{"--concurrency", cfg.Concurrency <= 0}, {"--duration", cfg.Duration < 100*time.Millisecond}, {"--keys", cfg.Keys <= 0}, {"--devices", cfg.Devices <= 0}} {
				if v.bad {
					if v.flag == "--duration" {
						return usagef("--duration must be at least 100ms (a run shorter than that measures the warm-up, not the server)")
					}
					return usagef("%s must be positive", v.flag)
				}
			}
			// Every key and device is stored on the server for good.
			if cfg.Keys > loadgen.MaxPrepared || cfg.Devices > loadgen.MaxPrepared {
				return usagef("--keys and --devices may be at most %d: each one is issued or activated on the server for good (for more keys, generate them once with echt admin keys generate and pass --keys-file)", loadgen.MaxPrepared)
			}
			if cfg.Rate > 0 && cfg.Baseline {
				return usagef("--baseline measures what the server does at most (closed loop), which a --rate run cannot be compared with: drop --rate, or --baseline")
			}
			for _, u := range strings.Split(cfg.Server, ",") {
				if err := checkServerURL(strings.TrimSpace(u)); err != nil {
					return err
				}
			}
			if !asJSON {
				cfg.Progress = e.stderr
			}
			if keysFile != "" {
				b, err := os.ReadFile(keysFile)
				if err != nil {
					return usagef("--keys-file: %v", err)
				}
				b = bytes.TrimPrefix(b, []byte("\uFEFF")) // a byte order mark, as spreadsheets write
				for i, line := range strings.Split(string(b), "\n") {
					k, _, _ := strings.Cut(strings.TrimSpace(line), ",")
					if k == "" || (i == 0 && k == "key") {
						continue
					}
					if !productkey.Valid(k) {
						return usagef("--keys-file %s, line %d: %q is not a product key (25 characters in five groups of five; a CSV's key comes first)", keysFile, i+1, k)
					}
					cfg.GivenKeys = append(cfg.GivenKeys, k)
				}
				if len(cfg.GivenKeys) == 0 || cfg.Product == "" {
					return usagef("--keys-file needs at least one key and --product ID")
				}
			}
			r, err := loadgen.New(cfg)
			if err != nil {
				return usagef("%v", err)
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt)
			defer stop()
			res, err := r.Run(ctx)
			if err != nil {
				if ctx.Err() != nil {
					fmt.Fprintln(e.stderr, "echt: bench interrupted before its measured run ended: no result")
					return exitError{code: exitInterrupted}
				}
				return err
			}
			if asJSON {
				if err := e.printJSON(res); err != nil {
					return err
				}
			} else {
				e.printBench(res)
			}
			if res.Interrupted {
				fmt.Fprintf(e.stderr, "echt: bench interrupted after %.1fs of the measured run: the figures cover only that\n", res.Seconds)
				return exitError{code: exitInterrupted}
			}
			if res.Errors == res.Requests {
				// Measured, but nothing worked: not a result to build on.
				top := loadgen.TopCodes(res.ErrorsByCode)[0]
				hint := "check the server and the scenario"
				if keysFile != "" && (top == string(problem.KeyInUseElsewhere) || top == string(problem.ActivationLimitReached)) {
					hint = "the keys of --keys-file have no seats to spare: every activation spends one (the run's warm-up too), and bench frees none. Give volume keys with many activations, or more keys than requests"
				}
				fmt.Fprintf(e.stderr, "echt: every request failed (%s the most): %s\n", top, hint)
				code := exitFailure
				if _, ok := problem.Lookup(problem.Code(top)); ok {
					code = problem.Code(top).ExitCode()
				}
				return exitError{code: code}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Server, "server", "http://127.0.0.1:8080", "echt server URL, or several nodes separated by commas (round-robin) (env ECHT_SERVER)")
	fl.StringVar(&cfg.Token, "token", "", "admin API token (env ECHT_TOKEN)")
	fl.StringVar(&cfg.Scenario, "scenario", "activate", "activate, validate, mixed (90% validate, 10% activate) or public-check")
	fl.Float64Var(&cfg.Rate, "rate", 0, "requests per second (open loop); 0 means closed loop with --concurrency workers")
	fl.IntVar(&cfg.Concurrency, "concurrency", 64, "workers, or the most requests in flight with --rate")
	fl.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured duration (each baseline runs as long)")
	fl.IntVar(&cfg.Keys, "keys", 100, "keys to spread activations over (at most 1000000, issued on the server for good)")
	fl.IntVar(&cfg.Devices, "devices", 1000, "devices activated up front for validate and mixed (at most 1000000)")
	fl.StringVar(&keysFile, "keys-file", "", "use these keys (one per line, or the CSV of keys generate) instead of preparing new ones; activate spends their seats for good (use volume keys)")
	fl.StringVar(&cfg.Product, "product", "", "the product of --keys-file")
	fl.BoolVar(&cfg.Baseline, "baseline", false, "also measure the trivial and sign baselines and report ratios")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func (e *env) printBench(r loadgen.Result) {
	w := e.stdout
	fmt.Fprintf(w, "scenario:     %s (%d workers", r.Scenario, r.Concurrency)
	if r.Rate > 0 {
		fmt.Fprintf(w, ", %s req/s scheduled", strconv.FormatFloat(r.Rate, 'g', 6, 64))
	}
	fmt.Fprintf(w, ", %.1fs", r.Seconds)
	if r.Interrupted {
		fmt.Fprint(w, ", interrupted")
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "requests:     %d (%d errors)\n", r.Requests, r.Errors)
	fmt.Fprintf(w, "throughput:   %.0f req/s (%.0f req/s without an error)\n", r.RPS, r.OKRPS)
	l := r.LatencyMS
	fmt.Fprintf(w, "latency ms:   p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", l.P50, l.P90, l.P99, l.P999, l.Max)
	for _, code := range loadgen.TopCodes(r.ErrorsByCode) {
		fmt.Fprintf(w, "  error %-28s %d\n", code, r.ErrorsByCode[code])
	}
	if r.Baseline != nil {
		fmt.Fprintf(w, "baseline:     trivial %.0f req/s, sign %.0f req/s\n", r.Baseline.TrivialRPS, r.Baseline.SignRPS)
		fmt.Fprintf(w, "ratio:        %.2f of trivial, %.2f of sign\n", r.RatioToTrivial, r.RatioToSign)
	}
}
