// Command growth is echt's growth benchmark: it measures how validate and
// activate cost grows with the number of activations a server holds.
//
// For each store (SQLite and PostgreSQL) it grows one database through a
// list of sizes (10k, 100k, 1M and 10M activations by default), adding to
// the previous size at each step. The rows are bulk-loaded straight into
// the database, not through HTTP: product keys with random 32-byte hashes
// (one key per five activations, with consistent seat counters),
// activations with time-sortable ids and realistic hashed hardware
// profiles, and their two indexed anchors each. SQLite is loaded through
// database/sql with large transactions of prepared multi-row inserts
// (synchronous=OFF, with the server stopped: SQLite has one writer);
// PostgreSQL with COPY. At each size it starts `echt serve` (rate limits
// off) on the loaded database and runs `echt bench --json` for the
// validate scenario, with the same run's trivial and sign baselines, and
// for the activate scenario. While a measurement runs it samples, from
// /proc, how busy the CPUs are and who uses them (the server, the load
// generator, the rest), iowait and the server's disk traffic, and for
// PostgreSQL the database's transactions, buffer hits and WAL; from these
// it names what limits each figure.
//
// It writes the raw results to bench/out/growth.json, a table to
// docs/benchmarks-growth.md and a plot to docs/growth.svg, made by this
// program. The outputs are rewritten after every measurement, so an
// interrupted run keeps what it measured.
//
// Run it from the repository root (bench/growth.sh does):
//
//	go run ./bench/growth [-stores sqlite,postgres] [-sizes 10k,100k,1M,10M] [-duration 10s] [-concurrency 64]
//
// PostgreSQL is reached at ECHT_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/postgres), where a fresh database with
// a random name is created and dropped at the end. The SQLite database and
// the built binary live in a new directory of the run's own (under -work,
// or the system's temporary directory), removed at the end unless -keep is
// given. A full run needs about 8 GB of free disk
// there for SQLite's 10M database (about 700 bytes an activation), and then
// about 13 GB on the PostgreSQL server (some 1.15 KB an activation, plus
// WAL); each store's database is removed before the next one is grown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Store names.
const (
	storeSQLite   = "sqlite"
	storePostgres = "postgres"
)

// defaultPostgres is the PostgreSQL server used when ECHT_TEST_POSTGRES is
// not set (the same default as the tests).
const defaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres"

type options struct {
	stores      []string
	sizes       []int64
	duration    time.Duration
	concurrency int
	devices     int
	postgres    string
	jsonPath    string
	docPath     string
	svgPath     string
	work        string
	keep        bool
	replot      bool
}

func main() {
	log.SetFlags(log.Ltime)
	log.SetPrefix("growth: ")
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "growth:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o)
	stop()
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("growth", flag.ContinueOnError)
	var o options
	stores := fs.String("stores", "sqlite,postgres", "comma-separated stores to measure: sqlite, postgres")
	sizes := fs.String("sizes", "10000,100000,1000000,10000000", "comma-separated activation counts (k and M suffixes allowed: 10k, 1M); the database grows through them in ascending order")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "duration of each measurement (each baseline runs as long)")
	fs.IntVar(&o.concurrency, "concurrency", 64, "load generator workers (echt bench --concurrency)")
	fs.IntVar(&o.devices, "devices", 0, "devices the validate scenario activates up front and then validates (echt bench --devices; 0: its default, 1000)")
	fs.StringVar(&o.postgres, "postgres", "", "PostgreSQL server URL (default: ECHT_TEST_POSTGRES, else "+defaultPostgres+"); a fresh database is created there and dropped at the end")
	fs.StringVar(&o.jsonPath, "json", "bench/out/growth.json", "raw results (JSON)")
	fs.StringVar(&o.docPath, "doc", "docs/benchmarks-growth.md", "the markdown report to write")
	fs.StringVar(&o.svgPath, "svg", "docs/growth.svg", "the SVG plot to write")
	fs.StringVar(&o.work, "work", "", "directory in which to make the run's own directory for the binary, the SQLite database and logs (default: the system's temporary directory); only that directory is removed")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory and the PostgreSQL database")
	fs.BoolVar(&o.replot, "replot", false, "measure nothing: rewrite -doc and -svg from the results in -json")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./bench/growth [flags] (from the repository root; paths are relative to it)\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.postgres == "" {
		if o.postgres = os.Getenv("ECHT_TEST_POSTGRES"); o.postgres == "" {
			o.postgres = defaultPostgres
		}
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range splitList(*stores) {
		if s != storeSQLite && s != storePostgres {
			return o, fmt.Errorf("-stores: unknown store %q: use sqlite and/or postgres", s)
		}
		if !slices.Contains(o.stores, s) {
			o.stores = append(o.stores, s)
		}
	}
	if len(o.stores) == 0 {
		return o, errors.New("-stores: name at least one store")
	}
	for _, s := range splitList(*sizes) {
		n, err := parseCount(s)
		if err != nil {
			return o, fmt.Errorf("-sizes: %v", err)
		}
		o.sizes = append(o.sizes, n)
	}
	slices.Sort(o.sizes)
	o.sizes = slices.Compact(o.sizes)
	if len(o.sizes) == 0 {
		return o, errors.New("-sizes: give at least one size")
	}
	if o.duration < time.Second {
		return o, errors.New("-duration: at least 1s")
	}
	if o.concurrency < 1 || o.devices < 0 {
		return o, errors.New("-concurrency must be positive and -devices not negative")
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseCount parses 10000, 10_000, 10k, 1M or 1e6.
func parseCount(s string) (int64, error) {
	t := strings.ReplaceAll(s, "_", "")
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "k") || strings.HasSuffix(t, "K"):
		mult, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1e6, t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f*mult < 1 || f*mult > 1e10 {
		return 0, fmt.Errorf("%q is not a count between 1 and 10,000,000,000", s)
	}
	return int64(f*mult + 0.5), nil
}

// repoRoot finds the directory of echt's go.mod, from the current
// directory upwards.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/echt-dev/echt\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the echt repository: run from its root (bench/growth.sh does)")
		}
		dir = parent
	}
}

func run(ctx context.Context, o options) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	if o.replot {
		return replot(o)
	}
	// A directory of its own, also inside -work: removing it at the end
	// must never take anything the user keeps there.
	if o.work != "" {
		if err := os.MkdirAll(o.work, 0o700); err != nil {
			return err
		}
	}
	work, err := os.MkdirTemp(o.work, "echt-growth-")
	if err != nil {
		return err
	}
	if o.keep {
		log.Printf("work directory %s (kept)", work)
	} else {
		defer os.RemoveAll(work)
	}

	rep := newReport(o, readMachine())
	log.Printf("machine: %s", rep.Machine.summary())
	log.Printf("stores %s, sizes %s, %s per measurement, %d workers", strings.Join(o.stores, ","), joinCounts(o.sizes), o.duration, o.concurrency)

	bin := filepath.Join(work, "echt")
	log.Printf("building %s", bin)
	if err := goBuild(ctx, bin); err != nil {
		return err
	}
	start := time.Now()
	var errs []error
	for _, st := range o.stores {
		if err := runStore(ctx, o, rep, st, bin, filepath.Join(work, st)); err != nil {
			err = fmt.Errorf("%s: %w", st, err)
			log.Print(err)
			rep.Errors = append(rep.Errors, err.Error())
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	rep.Finished = time.Now().UTC()
	if err := rep.write(o); err != nil {
		errs = append(errs, err)
	} else {
		log.Printf("done in %s: %s, %s, %s", time.Since(start).Round(time.Second), o.jsonPath, o.docPath, o.svgPath)
	}
	return errors.Join(errs...)
}

func joinCounts(ns []int64) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = short(float64(n))
	}
	return strings.Join(s, ",")
}
