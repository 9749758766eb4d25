package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/echt-dev/echt/internal/loadgen"
)

// Thresholds of the "what limits it" heuristic.
const (
	cpuBound  = 0.85 // share of all CPUs busy that counts as saturated
	ioBound   = 0.10 // share of CPU time in iowait that counts as disk-bound
	dropFlag  = 0.20 // throughput drop from the previous size that flags a size
	p99Flag   = 2.0  // p99 growth from the previous size worth naming
	errsBound = 0.01 // share of failed requests worth naming first
	busyOther = 0.25 // CPUs used by other processes worth naming
)

type storeInfo struct {
	Engine   string            `json:"engine"`
	Settings map[string]string `json:"settings"`
}

type loadResult struct {
	Store       string  `json:"store"`
	Target      int64   `json:"target"`
	Before      int64   `json:"before"`
	After       int64   `json:"after"`
	Activations int64   `json:"activations_added"`
	Keys        int64   `json:"keys_added"`
	Anchors     int64   `json:"anchors_added"`
	Rows        int64   `json:"rows"`
	Seconds     float64 `json:"seconds"`
	RowsPerSec  float64 `json:"rows_per_s"`
	DBBytes     int64   `json:"db_bytes"`
}

type result struct {
	Store string `json:"store"`
	Size  int64  `json:"size"`
	// Activations is the number in the database when the measurement
	// started (the size, unless earlier runs already added more).
	Activations    int64          `json:"activations"`
	Scenario       string         `json:"scenario"`
	Bench          loadgen.Result `json:"bench"`
	Obs            observation    `json:"observed"`
	DBBytes        int64          `json:"db_bytes"`
	LoadRowsPerSec float64        `json:"load_rows_per_s"`
	// Flagged: throughput fell by more than 20% from the previous size.
	Flagged bool   `json:"flagged"`
	Limit   string `json:"limit"`
}

type params struct {
	Stores            []string `json:"stores"`
	Sizes             []int64  `json:"sizes"`
	Duration          string   `json:"duration"`
	Concurrency       int      `json:"concurrency"`
	Devices           int      `json:"devices"`
	ActivationsPerKey int      `json:"activations_per_key"`
	AnchorsPerAct     int      `json:"anchors_per_activation"`
	Args              []string `json:"args"`
}

type report struct {
	Started  time.Time            `json:"started"`
	Finished time.Time            `json:"finished,omitzero"`
	Machine  machine              `json:"machine"`
	Params   params               `json:"params"`
	Stores   map[string]storeInfo `json:"stores"`
	Loads    []loadResult         `json:"loads"`
	Results  []result             `json:"results"`
	Errors   []string             `json:"errors,omitempty"`
}

func newReport(o options, m machine) *report {
	devices := o.devices
	if devices == 0 {
		devices = 1000
	}
	return &report{
		Started: time.Now().UTC(),
		Machine: m,
		Params: params{Stores: o.stores, Sizes: o.sizes, Duration: o.duration.String(), Concurrency: o.concurrency, Devices: devices,
			ActivationsPerKey: activationsPerKey, AnchorsPerAct: 2, Args: os.Args[1:]},
		Stores: map[string]storeInfo{},
	}
}

// add records a result and names what limits it.
func (rep *report) add(r result) {
	prev := rep.previous(r)
	r.Limit, r.Flagged = diagnose(r, prev, rep.Machine)
	rep.Results = append(rep.Results, r)
}

// previous returns the result of the same store and scenario at the next
// smaller size, if any.
func (rep *report) previous(r result) *result {
	var p *result
	for i := range rep.Results {
		x := &rep.Results[i]
		if x.Store == r.Store && x.Scenario == r.Scenario && x.Size < r.Size && (p == nil || x.Size > p.Size) {
			p = x
		}
	}
	return p
}

// diagnose names what limits a result, from the numbers only: what
// saturated (errors, the CPUs, the disk, or else what the store
// serialises), what the store did per request, and how the figures moved
// from the previous size. It reports whether the size is flagged.
func diagnose(r result, prev *result, m machine) (string, bool) {
	var parts []string
	o, b := r.Obs, r.Bench
	if b.Requests > 0 && float64(b.Errors)/float64(b.Requests) > errsBound {
		top := loadgen.TopCodes(b.ErrorsByCode)
		code := ""
		if len(top) > 0 {
			code = " (mostly " + top[0] + ")"
		}
		parts = append(parts, fmt.Sprintf("errors: %.1f%% of requests failed%s", 100*float64(b.Errors)/float64(b.Requests), code))
	}
	switch {
	case !o.OK:
		parts = append(parts, "no CPU and disk readings (/proc) on this system")
	case o.CPUBusy >= cpuBound:
		who := fmt.Sprintf("echt serve %.2f CPUs", o.ServerCores)
		if o.PGCores > 0 {
			who += fmt.Sprintf(", its PostgreSQL backends %.2f", o.PGCores)
		}
		who += fmt.Sprintf(", echt bench %.2f, other processes %.2f", o.ClientCores, o.OtherCores)
		if r.Store == storeSQLite && o.OtherCores >= busyOther {
			who += ": the machine was not idle"
		}
		parts = append(parts, fmt.Sprintf("CPU: the %d CPUs were %.0f%% busy (%s)", m.CPUs, 100*o.CPUBusy, who))
	case o.IOWait >= ioBound:
		parts = append(parts, fmt.Sprintf("disk: %.0f%% of CPU time in iowait, echt serve read %.1f MB/s and wrote %.1f MB/s",
			100*o.IOWait, o.ServerReadMBps, o.ServerWriteMBps))
	case r.Store == storeSQLite && r.Scenario == loadgen.ScenarioActivate:
		parts = append(parts, fmt.Sprintf("the single writer: waiting activations are decided and written group by group on SQLite's one write connection (a group's WAL is synced beside it, while the next group runs), while the CPUs were only %.0f%% busy and iowait %.0f%%",
			100*o.CPUBusy, 100*o.IOWait))
	case r.Store == storePostgres && r.Scenario == loadgen.ScenarioActivate:
		parts = append(parts, fmt.Sprintf("commit latency: waiting activations are decided group by group by echt's 4 writer transactions (pool of 16 connections; two round trips per group) and wait for their WAL flushes, while the CPUs were only %.0f%% busy and iowait %.0f%%",
			100*o.CPUBusy, 100*o.IOWait))
	default:
		parts = append(parts, fmt.Sprintf("neither CPU (%.0f%% busy) nor disk (%.0f%% iowait) saturated: requests waited for something else (network round trips, locks)",
			100*o.CPUBusy, 100*o.IOWait))
	}
	// What the store did per request.
	if o.OK {
		switch {
		case r.Store == storeSQLite && r.Scenario == loadgen.ScenarioActivate && o.ServerIO:
			parts = append(parts, fmt.Sprintf("%.1f KB written to disk per activation (WAL frames and checkpoints)", o.ServerWriteKBPerReq))
		case r.Store == storeSQLite && o.ServerIO:
			parts = append(parts, fmt.Sprintf("%.1f MB/s read from disk with the %s database and %s of RAM", o.ServerReadMBps, bytesSI(r.DBBytes), bytesIEC(m.MemoryBytes)))
		case r.Store == storePostgres && o.PG != nil:
			p := o.PG
			s := fmt.Sprintf("%.2f PostgreSQL transactions per %s", p.XactsPerRequest, strings.TrimSuffix(r.Scenario, "e")+"ion")
			if r.Scenario == loadgen.ScenarioValidate && p.XactsPerRequest < 0.05 {
				s += " (answered from echt's caches)"
			}
			if p.HitRatio != nil {
				s += fmt.Sprintf(", buffer hit ratio %.1f%%", 100**p.HitRatio)
			}
			if r.Scenario == loadgen.ScenarioActivate && p.WALKBPerRequest != nil {
				s += fmt.Sprintf(", %.1f KB of WAL per activation", *p.WALKBPerRequest)
			}
			if r.Scenario == loadgen.ScenarioActivate && p.WALSyncsPerSec != nil {
				s += fmt.Sprintf(", %.0f WAL syncs/s", *p.WALSyncsPerSec)
			}
			parts = append(parts, s)
		}
	}
	if o.OK && o.CPUBusy < cpuBound && o.OtherCores >= busyOther {
		note := "the machine was not idle"
		if r.Store == storePostgres {
			note = "PostgreSQL's background processes among them"
		}
		parts = append(parts, fmt.Sprintf("other processes took %.2f CPUs (%s)", o.OtherCores, note))
	}
	flagged := false
	if prev != nil && prev.Bench.RPS > 0 {
		change := b.RPS/prev.Bench.RPS - 1
		if change <= -dropFlag {
			flagged = true
			s := fmt.Sprintf("FLAGGED: %.0f%% less throughput than at %s activations while the database grew from %s to %s (RAM %s)",
				-100*change, short(float64(prev.Activations)), bytesSI(prev.DBBytes), bytesSI(r.DBBytes), bytesIEC(m.MemoryBytes))
			if r.Store == storePostgres && o.PG != nil && prev.Obs.PG != nil && o.PG.HitRatio != nil && prev.Obs.PG.HitRatio != nil {
				s += fmt.Sprintf(", buffer hit ratio %.1f%% → %.1f%%", 100**prev.Obs.PG.HitRatio, 100**o.PG.HitRatio)
			}
			if r.Store == storeSQLite && r.Scenario == loadgen.ScenarioActivate && o.ServerIO && prev.Obs.ServerIO {
				s += fmt.Sprintf(", disk writes per activation %.1f → %.1f KB", prev.Obs.ServerWriteKBPerReq, o.ServerWriteKBPerReq)
			}
			if o.OK && prev.Obs.OK && o.OtherCores-prev.Obs.OtherCores >= busyOther {
				s += fmt.Sprintf(", but other processes took %.2f CPUs more than then: part of the fall is theirs", o.OtherCores-prev.Obs.OtherCores)
			}
			parts = append(parts, s)
		} else {
			parts = append(parts, fmt.Sprintf("throughput %+.0f%% from %s activations", 100*change, short(float64(prev.Activations))))
		}
		if prev.Bench.LatencyMS.P99 > 0 && b.LatencyMS.P99 >= p99Flag*prev.Bench.LatencyMS.P99 {
			parts = append(parts, fmt.Sprintf("p99 %.1f× that at %s", b.LatencyMS.P99/prev.Bench.LatencyMS.P99, short(float64(prev.Activations))))
		}
	}
	s := strings.Join(parts, "; ")
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:] + "."
	}
	return strings.ReplaceAll(s, "|", "/"), flagged
}

// write writes the JSON, the markdown report and the plot. A run that
// measured nothing (a prerequisite failed) leaves the published report and
// plot alone.
func (rep *report) write(o options) error {
	if len(rep.Results) == 0 {
		return errors.New("nothing was measured: the report (" + o.docPath + ") and plot (" + o.svgPath + ") are left as they were")
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(o.jsonPath, append(b, '\n')); err != nil {
		return err
	}
	if err := writeFile(o.svgPath, []byte(rep.svg())); err != nil {
		return err
	}
	return writeFile(o.docPath, []byte(rep.markdown(o)))
}

// replot rewrites the markdown report and the plot from a JSON file of
// results, measuring nothing.
func replot(o options) error {
	b, err := os.ReadFile(o.jsonPath)
	if err != nil {
		return err
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", o.jsonPath, err)
	}
	if len(rep.Params.Sizes) == 0 {
		return fmt.Errorf("%s: no sizes: not a growth result", o.jsonPath)
	}
	// Name the limits again, by the rules of this version.
	results := rep.Results
	rep.Results = nil
	for _, r := range results {
		rep.add(r)
	}
	if err := writeFile(o.svgPath, []byte(rep.svg())); err != nil {
		return err
	}
	return writeFile(o.docPath, []byte(rep.markdown(o)))
}

// writeFile replaces path's content via a temporary file.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (rep *report) markdown(o options) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	sizes := rep.Params.Sizes
	if len(sizes) == 1 {
		p("# Growth: validate and activate at %s activations\n\n", short(float64(sizes[0])))
	} else {
		p("# Growth: validate and activate from %s to %s activations\n\n", short(float64(sizes[0])), short(float64(sizes[len(sizes)-1])))
	}
	p("Generated by `bench/growth.sh` (`go run ./bench/growth`) on %s; do not edit by hand, run it again.\n", rep.Started.Format("2006-01-02"))
	p("Raw results: `%s`. Plot: [%s](%s).\n\n", filepath.ToSlash(o.jsonPath), filepath.Base(o.svgPath), relPath(o.docPath, o.svgPath))
	m := rep.Machine
	p("- **Machine:** %s, %d CPUs, %s RAM, %s, %s", m.CPUModel, m.CPUs, bytesIEC(m.MemoryBytes), m.GoVersion, m.OS)
	if m.Kernel != "" {
		p(" (kernel %s)", m.Kernel)
	}
	if _, pg := rep.Stores[storePostgres]; pg {
		p(". The load generator (`echt bench`) and PostgreSQL ran on the same machine as `echt serve`, sharing its CPUs.\n")
	} else {
		p(". The load generator (`echt bench`) ran on the same machine as `echt serve`, sharing its CPUs.\n")
	}
	for _, name := range []string{storeSQLite, storePostgres} {
		info, ok := rep.Stores[name]
		if !ok {
			continue
		}
		keys := make([]string, 0, len(info.Settings))
		for k := range info.Settings {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		set := make([]string, len(keys))
		for i, k := range keys {
			set[i] = k + " " + info.Settings[k]
		}
		p("- **%s:** %s; %s.\n", name, info.Engine, strings.Join(set, ", "))
	}
	p("- **Run:** sizes %s; `echt bench --duration %s --concurrency %d` (closed loop) per measurement; validate revisits %s activated devices; %d activations per product key, %d anchors per activation. Started %s",
		strings.ReplaceAll(joinCounts(sizes), ",", ", "), rep.Params.Duration, rep.Params.Concurrency, group(float64(rep.Params.Devices)), rep.Params.ActivationsPerKey, rep.Params.AnchorsPerAct, rep.Started.Format("2006-01-02 15:04 MST"))
	if !rep.Finished.IsZero() {
		took := rep.Finished.Sub(rep.Started)
		if took < 10*time.Minute {
			took = took.Round(time.Second)
		} else {
			took = took.Round(time.Minute)
		}
		p(", took %s", took)
	} else {
		p(", not finished when this was written")
	}
	p(".\n")
	for _, e := range rep.Errors {
		p("- **Error:** %s\n", strings.ReplaceAll(e, "\n", " "))
	}
	p("\n![Throughput and p99 latency of validate and activate as the database grows](%s)\n\n", relPath(o.docPath, o.svgPath))

	p("## Results\n\n")
	p("`× trivial` is validate's throughput as a share of the same run's trivial JSON handler on the same server (`echt bench --baseline`). ")
	p("`load rows/s` is the bulk load that reached the size (keys, activations and anchors). ")
	p("Sizes marked ⚑ lost more than %.0f%% of the throughput they had at the previous size.\n\n", 100*dropFlag)
	p("| store | activations | scenario | req/s | × trivial | p50 ms | p99 ms | p99.9 ms | load rows/s | database on disk | what limits it |\n")
	p("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rep.Results {
		l := r.Bench.LatencyMS
		ratio := "—"
		if r.Scenario == loadgen.ScenarioValidate && r.Bench.RatioToTrivial > 0 {
			ratio = fmt.Sprintf("%.2f", r.Bench.RatioToTrivial)
		}
		flag := ""
		if r.Flagged {
			flag = " ⚑"
		}
		load := "—"
		if r.LoadRowsPerSec > 0 {
			load = group(r.LoadRowsPerSec)
		}
		p("| %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Store, group(float64(r.Activations)), flag, r.Scenario, group(r.Bench.RPS), ratio,
			ms(l.P50), ms(l.P99), ms(l.P999), load, bytesSI(r.DBBytes), r.Limit)
	}

	p("\n## What the machine did\n\n")
	p("Sampled from `/proc` every 200 ms over the measured phase (the last %s of each `echt bench` run), in CPUs' worth of time: ", rep.Params.Duration)
	p("echt serve, the PostgreSQL backends serving the benchmark's database (when PostgreSQL runs on this machine), the load generator, and everything else (PostgreSQL's background processes included). ")
	p("PostgreSQL figures come from `pg_stat_database` (the benchmark's database) and `pg_stat_wal` (the whole server); backends report them when idle, up to some seconds late, so over short measurements they are approximate.\n\n")
	p("| store | activations | scenario | CPU busy | echt serve | PostgreSQL backends | echt bench | others | iowait | echt disk write / request | errors | PostgreSQL transactions / request | buffer hit ratio | WAL / request |\n")
	p("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Results {
		ob := r.Obs
		if !ob.OK {
			p("| %s | %s | %s | — | — | — | — | — | — | — | %d | — | — | — |\n", r.Store, group(float64(r.Activations)), r.Scenario, r.Bench.Errors)
			continue
		}
		wr := "—"
		if ob.ServerIO {
			wr = fmt.Sprintf("%.1f KB", ob.ServerWriteKBPerReq)
		}
		xa, hit, wal, pgc := "—", "—", "—", "—"
		if ob.PGCores > 0 {
			pgc = fmt.Sprintf("%.2f", ob.PGCores)
		}
		if ob.PG != nil {
			xa = fmt.Sprintf("%.2f", ob.PG.XactsPerRequest)
			if ob.PG.HitRatio != nil {
				hit = fmt.Sprintf("%.1f%%", 100**ob.PG.HitRatio)
			}
			if ob.PG.WALKBPerRequest != nil {
				wal = fmt.Sprintf("%.1f KB", *ob.PG.WALKBPerRequest)
			}
		}
		p("| %s | %s | %s | %.0f%% | %.2f | %s | %.2f | %.2f | %.0f%% | %s | %d | %s | %s | %s |\n", r.Store, group(float64(r.Activations)), r.Scenario,
			100*ob.CPUBusy, ob.ServerCores, pgc, ob.ClientCores, ob.OtherCores, 100*ob.IOWait, wr, r.Bench.Errors, xa, hit, wal)
	}

	p("\n## Baselines\n\nMeasured by `echt bench --baseline` with validate, on the same server process, %s each.\n\n", rep.Params.Duration)
	p("| store | activations | trivial req/s | sign req/s | validate × trivial | validate × sign |\n|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Results {
		if bl := r.Bench.Baseline; bl != nil {
			p("| %s | %s | %s | %s | %.2f | %.2f |\n", r.Store, group(float64(r.Activations)), group(bl.TrivialRPS), group(bl.SignRPS), r.Bench.RatioToTrivial, r.Bench.RatioToSign)
		}
	}

	p("\n## Loads\n\n| store | activations | added | keys | anchors | seconds | rows/s | database on disk |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range rep.Loads {
		p("| %s | %s | %s | %s | %s | %.1f | %s | %s |\n", l.Store, group(float64(l.After)), group(float64(l.Activations)), group(float64(l.Keys)), group(float64(l.Anchors)),
			l.Seconds, group(l.RowsPerSec), bytesSI(l.DBBytes))
	}

	p("\n## How it is measured\n\n")
	p("For each store one database grows through the sizes; each step adds to the previous one. ")
	p("The rows are written straight into the database, not through HTTP, with `echt serve` stopped: ")
	p("a product and a volume SKU (made through the admin API on the first start), product keys with random 32-byte hashes (one per %d activations, seat counters consistent), ", activationsPerKey)
	p("activations (`act_` ids sortable by creation time, spread over the past two years; hashed hardware profiles of seven components; status active) ")
	p("and two anchors per activation (system UUID and network card, 17 bytes each). ")
	p("SQLite is loaded in transactions of %s activations with prepared multi-row inserts and `synchronous=OFF` (for the load only); PostgreSQL with `COPY`, followed by `VACUUM (ANALYZE)` and a checkpoint. ", short(chunkSize))
	p("Each transaction draws its keys and anchors from one slice of the value space, as a sorting bulk loader would; the data ends up uniformly spread.\n\n")
	p("Then `echt serve --rate-limit 0 --check-rate-limit 0` starts on the database and `echt bench --json` runs validate (with `--baseline`) and then activate. ")
	p("The benchmark's own products, keys and activations (validate activates its devices first; activate adds one activation per request) stay in the database, ")
	p("so the next step starts from what is there, counted. Validate revisits the same %s devices, which echt keeps in its per-node caches.\n\n", group(float64(rep.Params.Devices)))
	p("**What limits it** is derived from the numbers by fixed rules: more than %.0f%% failed requests are named first; ", 100*errsBound)
	p("then the CPUs if at least %.0f%% of all CPU time was busy (split as in the table above), ", 100*cpuBound)
	p("else the disk if iowait was at least %.0f%%, else what the store serialises (SQLite's single writer; PostgreSQL's writer transactions and WAL flushes) for activate. ", 100*ioBound)
	p("Then what the store did per request: disk writes per activation, or disk reads, for SQLite; transactions, buffer hit ratio and WAL for PostgreSQL. ")
	p("Other processes that took %.2f CPUs or more are named too. ", busyOther)
	p("Last, how throughput moved from the previous size: a fall of more than %.0f%% flags the size (⚑), and a p99 that grew %.0f× or more is named.\n\n", 100*dropFlag, p99Flag)
	p("## Reproduce\n\n```sh\nbench/growth.sh                                   # both stores, 10k to 10M\nbench/growth.sh -stores sqlite -sizes 10k,100k -duration 5s\n```\n\n")
	p("PostgreSQL comes from `ECHT_TEST_POSTGRES` (default `%s`); a database with a random name is created there and dropped at the end. `go run ./bench/growth -h` lists the flags.\n", defaultPostgres)
	return w.String()
}

// relPath returns target relative to the directory of from, with slashes.
func relPath(from, target string) string {
	r, err := filepath.Rel(filepath.Dir(from), target)
	if err != nil {
		return filepath.ToSlash(target)
	}
	return filepath.ToSlash(r)
}

// Formatting.

// short writes a count as 10k, 1.5M.
func short(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return trimZero(v/1e9) + "G"
	case a >= 1e6:
		return trimZero(v/1e6) + "M"
	case a >= 1e3:
		return trimZero(v/1e3) + "k"
	}
	return trimZero(v)
}

func trimZero(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

// group writes a number rounded to an integer with thousands separators.
func group(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ms writes milliseconds with three significant digits.
func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func bytesSI(n int64) string {
	switch f := float64(n); {
	case f >= 1e9:
		return fmt.Sprintf("%.1f GB", f/1e9)
	case f >= 1e6:
		return fmt.Sprintf("%.0f MB", f/1e6)
	case f >= 1e3:
		return fmt.Sprintf("%.0f kB", f/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func bytesIEC(n int64) string {
	switch f := float64(n); {
	case f >= 1<<30:
		return fmt.Sprintf("%.1f GiB", f/(1<<30))
	case f >= 1<<20:
		return fmt.Sprintf("%.0f MiB", f/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}
