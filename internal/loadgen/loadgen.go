// Package loadgen drives load at an echt server and measures it: the
// engine behind `echt bench`. It prepares its own product, SKU and keys
// through the admin API, sends real requests with distinct hardware
// profiles, and reports throughput, errors by reason code and latency
// percentiles from a histogram. With a fixed rate it measures latency from
// each request's scheduled start, so a slow server cannot hide its queue
// (no coordinated omission).
package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/jsonw"
	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/problem"
)

// Scenarios.
const (
	ScenarioActivate    = "activate"
	ScenarioValidate    = "validate"
	ScenarioMixed       = "mixed"
	ScenarioPublicCheck = "public-check"
	ScenarioTrivial     = "trivial"
	ScenarioSign        = "sign"
)

// Config configures a run. Zero values take the documented defaults.
type Config struct {
	// Server is the server URL, or several separated by commas (the nodes
	// of one deployment): requests go round-robin over them; preparation
	// uses the first.
	Server string
	Token  string
	// TokenSource names where Token was read from, if not given: said
	// when the server refuses it.
	TokenSource string
	// Scenario is one of activate, validate, mixed, public-check (and the
	// baselines trivial and sign).
	Scenario string
	// Rate, if positive, sends this many requests per second (open loop);
	// otherwise Concurrency workers send back to back (closed loop).
	Rate float64
	// Concurrency is the number of workers (closed loop) or the most
	// requests in flight (open loop); 0 means 64.
	Concurrency int
	// Duration of the measured run; 0 means 10s.
	Duration time.Duration
	// Keys is the number of keys to spread activations over; 0 means 100.
	Keys int
	// Devices is the number of devices activated up front for validate
	// and mixed; 0 means 1000.
	Devices int
	servers []string

	// GivenKeys and Product, if set, are used instead of preparing a
	// product, a SKU and keys (the keys must belong to Product).
	GivenKeys []string
	Product   string
	// Baseline also measures the trivial and sign baselines on the same
	// server, for the same duration and concurrency, always closed loop.
	Baseline bool
	// Progress receives a line per second, if not nil.
	Progress io.Writer
	// unfinishedGrace replaces unfinishedGrace in tests.
	unfinishedGrace time.Duration
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// Baseline is the same-run baseline throughput.
type Baseline struct {
	TrivialRPS float64 `json:"trivial_rps"`
	SignRPS    float64 `json:"sign_rps"`
}

// Result is the outcome of a run (the JSON of `echt bench --json`).
type Result struct {
	Scenario       string           `json:"scenario"`
	Requests       int64            `json:"requests"`
	Errors         int64            `json:"errors"`
	ErrorsByCode   map[string]int64 `json:"errors_by_code"`
	RPS            float64          `json:"rps"`
	OKRPS          float64          `json:"ok_rps"` // requests without an error, per second
	LatencyMS      Latency          `json:"latency_ms"`
	Concurrency    int              `json:"concurrency"`
	Rate           float64          `json:"rate,omitempty"`
	Seconds        float64          `json:"seconds"`
	Baseline       *Baseline        `json:"baseline,omitempty"`
	RatioToTrivial float64          `json:"ratio_to_trivial,omitempty"`
	RatioToSign    float64          `json:"ratio_to_sign,omitempty"`
	// Interrupted is true when the run was cut short (Ctrl-C): its
	// figures cover only the time it ran.
	Interrupted bool `json:"interrupted,omitempty"`
}

// MaxRate is the highest --rate a run takes: far beyond what one load
// generator sends, and small enough that a schedule's slots stay countable.
const MaxRate = 10_000_000

func (c *Config) defaults() error {
	if c.Server == "" {
		return errors.New("bench: no server")
	}
	c.Server = strings.TrimRight(c.Server, "/")
	for _, u := range strings.Split(c.Server, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			c.servers = append(c.servers, u)
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Keys <= 0 {
		c.Keys = 100
	}
	if c.Devices <= 0 {
		c.Devices = 1000
	}
	switch c.Scenario {
	case ScenarioActivate, ScenarioValidate, ScenarioMixed, ScenarioPublicCheck, ScenarioTrivial, ScenarioSign:
	case "":
		c.Scenario = ScenarioActivate
	default:
		return fmt.Errorf("bench: unknown scenario %q: use activate, validate, mixed or public-check", c.Scenario)
	}
	return nil
}

// Runner runs load.
type Runner struct {
	rr   atomic.Uint64
	cfg  Config
	http *http.Client // preparing a run
	raw  []*rawTarget // the measured requests, one per server
	// rawHeader is every measured request's header lines after Host;
	// rawHeaderJSON adds the Content-Type of a JSON body.
	rawHeader, rawHeaderJSON []byte
	fix                      *fixture
}

// New returns a runner.
func New(cfg Config) (*Runner, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	tr := &http.Transport{
		MaxIdleConns:        cfg.Concurrency * 2,
		MaxIdleConnsPerHost: cfg.Concurrency * 2,
		MaxConnsPerHost:     cfg.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	// Redirects are not followed: an echt server does not send them, so
	// one means --server names something else (see codeRedirect).
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r := &Runner{cfg: cfg, http: &http.Client{Transport: tr, Timeout: 30 * time.Second, CheckRedirect: noRedirect}}
	for _, s := range cfg.servers {
		t, err := newRawTarget(s, cfg.Concurrency*2)
		if err != nil {
			return nil, err
		}
		r.raw = append(r.raw, t)
	}
	r.rawHeader = []byte("User-Agent: echt-bench\r\n")
	if cfg.Token != "" {
		if strings.ContainsAny(cfg.Token, "\r\n") {
			return nil, errors.New("bench: the token holds a line break: copy it again from the admin-token file")
		}
		r.rawHeader = append(r.rawHeader, "Authorization: Bearer "+cfg.Token+"\r\n"...)
	}
	r.rawHeaderJSON = append([]byte("Content-Type: application/json\r\n"), r.rawHeader...)
	return r, nil
}

// Run prepares, optionally measures the baselines, then runs the scenario.
func (r *Runner) Run(ctx context.Context) (Result, error) {
	// Prepare first: a refused token or a wrong product fails the run
	// before the baselines spend their time.
	if r.cfg.Scenario != ScenarioTrivial && r.cfg.Scenario != ScenarioSign {
		fix, err := r.prepare(ctx)
		if err != nil {
			return Result{}, err
		}
		r.fix = fix
	}
	var base *Baseline
	if r.cfg.Baseline {
		// The baselines measure what the server can do: closed loop, even
		// when the scenario runs at a fixed rate (at that rate they would
		// only echo it).
		rate := r.cfg.Rate
		r.cfg.Rate = 0
		t, err := r.measure(ctx, ScenarioTrivial)
		if err == nil {
			var s Result
			if s, err = r.measure(ctx, ScenarioSign); err == nil {
				base = &Baseline{TrivialRPS: t.RPS, SignRPS: s.RPS}
			}
		}
		r.cfg.Rate = rate
		if err != nil {
			return Result{}, err
		}
	}
	res, err := r.measure(ctx, r.cfg.Scenario)
	if err != nil {
		return Result{}, err
	}
	if base != nil {
		res.Baseline = base
		// Ratios of the requests that worked: failures (a refused key,
		// a connection refused at once) are no throughput.
		if base.TrivialRPS > 0 {
			res.RatioToTrivial = res.OKRPS / base.TrivialRPS
		}
		if base.SignRPS > 0 {
			res.RatioToSign = res.OKRPS / base.SignRPS
		}
	}
	return res, nil
}

type worker struct {
	hist  *Histogram
	codes map[string]int64
	n     int64
	errs  int64
}

func (r *Runner) measure(ctx context.Context, scenario string) (Result, error) {
	do, err := r.scenario(scenario)
	if err != nil {
		return Result{}, err
	}
	// Warm up connections and caches briefly, unmeasured.
	warm, cancelWarm := context.WithTimeout(ctx, 500*time.Millisecond)
	r.loop(warm, do)
	cancelWarm()

	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()
	// Requests run under ctx, not the run's deadline: in an open loop
	// the ones in flight at the end get the grace to finish (the parent,
	// Ctrl-C, still cuts them short).
	reqCtx := runCtx
	if r.cfg.Rate > 0 {
		var cancelReq context.CancelFunc
		reqCtx, cancelReq = context.WithTimeout(ctx, r.cfg.Duration+r.grace())
		defer cancelReq()
	}
	var live liveCount
	stopProgress := r.progress(scenario, &live)
	workers := r.loopCounting(runCtx, reqCtx, start, do, &live)
	elapsed := time.Since(start)
	if r.cfg.Rate > 0 {
		// Every request scheduled in the run is counted, answered or not:
		// per second of the schedule, not of the grace after it, nor only
		// up to the last request sent (the workers stop at the last slot
		// due before the end).
		elapsed = r.cfg.Duration
		if ctx.Err() != nil {
			elapsed = min(time.Since(start), r.cfg.Duration) // cut short
		}
	}
	stopProgress()

	res := Result{Scenario: scenario, ErrorsByCode: map[string]int64{}, Concurrency: r.cfg.Concurrency, Rate: r.cfg.Rate, Seconds: elapsed.Seconds()}
	h := NewHistogram()
	for _, w := range workers {
		h.Merge(w.hist)
		res.Requests += w.n
		res.Errors += w.errs
		for k, v := range w.codes {
			res.ErrorsByCode[k] += v
		}
	}
	res.Interrupted = ctx.Err() != nil
	res.RPS = float64(res.Requests) / elapsed.Seconds()
	res.OKRPS = float64(res.Requests-res.Errors) / elapsed.Seconds()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	res.LatencyMS = Latency{P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99)), P999: ms(h.Quantile(0.999)), Max: ms(h.Max())}
	if res.Requests == 0 {
		return res, benchProblem(string(problem.Unavailable), fmt.Sprintf("bench %s: no request completed in %s", scenario, r.cfg.Duration.Round(time.Millisecond)),
			"the server did not answer in time: check it is running and not stalled, or give a longer --duration")
	}
	return res, nil
}

// MaxPrepared is the most keys or devices a run prepares on the server.
const MaxPrepared = 1_000_000

// keyBatch is the most keys one admin request issues (the server's limit).
const keyBatch = 50_000

// liveCount is what the progress lines show: requests answered (or
// failed) and, in an open loop, slots never sent because every worker was
// waiting; those are counted in bulk, so they get their own column.
type liveCount struct {
	done, notSent atomic.Int64
	// In an open loop: the schedule's start (Unix nanoseconds) and the
	// next slot a worker takes, so the progress line can show the slots
	// due but not yet taken (every worker busy).
	t0, slots atomic.Int64
}

func (r *Runner) progress(scenario string, live *liveCount) func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start, last := time.Now(), int64(0)
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := live.done.Load()
				line := fmt.Sprintf("%-12s %5.0fs  %9d requests  %8.0f/s", scenario, now.Sub(start).Seconds(), n, float64(n-last))
				if t0 := live.t0.Load(); r.cfg.Rate > 0 && t0 != 0 {
					due := int64(now.Sub(time.Unix(0, t0)).Seconds() * r.cfg.Rate)
					if behind := due - live.slots.Load(); behind > 0 {
						line += fmt.Sprintf("  %9d behind schedule (every worker busy)", behind)
					}
				}
				if ns := live.notSent.Load(); ns > 0 {
					line += fmt.Sprintf("  %9d counted NOT_SENT (due before the end, never sent)", ns)
				}
				fmt.Fprintln(r.cfg.Progress, line)
				last = n
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (r *Runner) loop(ctx context.Context, do func(ctx context.Context, i int64) string) {
	var live liveCount
	r.loopCounting(ctx, ctx, time.Now(), do, &live)
}

// unfinishedGrace is how long an open-loop run waits, after its duration,
// for the requests still in flight.
const unfinishedGrace = 5 * time.Second

func (r *Runner) grace() time.Duration {
	if r.cfg.unfinishedGrace > 0 {
		return r.cfg.unfinishedGrace // tests
	}
	return unfinishedGrace
}

// Error codes of requests an open-loop run scheduled but did not see
// answered: never sent because every worker was waiting for the server,
// or still unanswered unfinishedGrace after the run.
const (
	codeNotSent    = "NOT_SENT"
	codeUnfinished = "UNFINISHED"
)

// codeRedirect counts an answer that sends the request elsewhere (an
// http:// address behind a redirect to https://, say): the generator
// follows no redirects, and a redirect is no answer to measure.
const codeRedirect = "UNEXPECTED_REDIRECT"

// notSentSlack is how long a slot may have waited at the end of a run and
// still not count as NOT_SENT: the generator's own scheduling delay (a
// slot due a moment before the end, taken a moment after it), not a
// server holding every worker.
const notSentSlack = 100 * time.Millisecond

// loopCounting runs do until ctx ends, closed or open loop; requests run
// under reqCtx. In a closed
// loop the requests in flight at the end are cancelled and not counted. In
// an open loop (Rate) every scheduled request counts, from its scheduled
// start: those in flight get grace to finish, and those never sent or not
// finished by then count as errors (NOT_SENT, UNFINISHED) with the time
// they waited, so a server that stalls cannot hide it.
func (r *Runner) loopCounting(ctx, reqCtx context.Context, t0 time.Time, do func(ctx context.Context, i int64) string, live *liveCount) []*worker {
	n := r.cfg.Concurrency
	workers := make([]*worker, n)
	var seq atomic.Int64
	var wg sync.WaitGroup
	// Open loop: slot i is due at t0 + i/Rate. A free worker takes the
	// next slot and waits for it if it is not due yet; slots pile up
	// (without bound, and without memory) while every worker waits for the
	// server. When the run ends, the slots due before its end and never
	// taken are counted as NOT_SENT. The schedule starts at t0, when the
	// run's deadline was set, so that it ends with the run.
	nextSlot := &live.slots
	live.t0.Store(t0.UnixNano())
	due := func(i int64) time.Time {
		return t0.Add(time.Duration(float64(i) * float64(time.Second) / r.cfg.Rate))
	}
	firstDueAt := func(t time.Time) int64 { // the first slot due at or after t
		return int64(math.Ceil(t.Sub(t0).Seconds() * r.cfg.Rate))
	}
	// The run's slots: those due before t0 + Duration.
	slots := int64(math.Ceil(r.cfg.Duration.Seconds()*r.cfg.Rate - 1e-9))
	var endOnce sync.Once
	var end time.Time
	runEnd := func() time.Time {
		endOnce.Do(func() {
			end = time.Now()
			if d, ok := ctx.Deadline(); ok && d.Before(end) {
				end = d
			}
		})
		return end
	}
	for w := range n {
		workers[w] = &worker{hist: NewHistogram(), codes: map[string]int64{}}
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			for {
				var start time.Time
				if r.cfg.Rate > 0 {
					i := nextSlot.Add(1) - 1
					if i >= slots {
						// Scheduled at or after the end of the run: not
						// one of its Rate × Duration requests (the timer
						// may fire before the context says it is done).
						return
					}
					s := due(i)
					if d := time.Until(s); d > 0 && ctx.Err() == nil {
						t := time.NewTimer(d)
						select {
						case <-t.C:
						case <-ctx.Done():
							t.Stop()
						}
					}
					if ctx.Err() != nil {
						end := runEnd()
						if !s.Before(end) {
							return // scheduled after the end
						}
						// Due before the end and not sent. One due in the
						// last notSentSlack is not counted: that close to the
						// end the generator's own delay cannot be told from
						// the server's.
						cutoff := end.Add(-notSentSlack)
						if s.Before(cutoff) {
							w.record(codeNotSent, time.Since(s), live)
						}
						// The later slots due before the cutoff were not sent
						// either: count them at once, not one by one (at a
						// very high rate that would go on for minutes after
						// the run), and skip those after it.
						limit := firstDueAt(cutoff)
						w.notSent(advanceTo(nextSlot, limit), limit, due, live)
						advanceTo(nextSlot, firstDueAt(end))
						continue // count what else was scheduled
					}
					start = s // latency counts from the scheduled time
				} else {
					if ctx.Err() != nil {
						return
					}
					start = time.Now()
				}
				code := do(reqCtx, seq.Add(1))
				if reqCtx.Err() != nil && code == "CANCELED" {
					if reqCtx == ctx {
						return // closed loop: cut off by the end of the run
					}
					code = codeUnfinished
				}
				w.record(code, time.Since(start), live)
			}
		}(workers[w])
	}
	wg.Wait()
	return workers
}

// notSent counts the slots first up to limit (excluded) as NOT_SENT, with
// the time each waited (in at most 1024 steps of the histogram).
func (w *worker) notSent(first, limit int64, due func(int64) time.Time, live *liveCount) {
	if first >= limit {
		return
	}
	n := limit - first
	now := time.Now()
	steps := min(n, 1024)
	for k := range steps {
		lo, hi := first+k*n/steps, first+(k+1)*n/steps
		w.hist.RecordN(now.Sub(due((lo+hi)/2)), hi-lo)
	}
	w.n += n
	w.errs += n
	w.codes[codeNotSent] += n
	live.notSent.Add(n)
}

// advanceTo moves the next slot to limit if it is before it, and returns
// where it was: the slots from there to limit are this caller's.
func advanceTo(next *atomic.Int64, limit int64) int64 {
	for {
		cur := next.Load()
		if cur >= limit || next.CompareAndSwap(cur, limit) {
			return cur
		}
	}
}

// record counts one request with its latency and, if it failed, its code.
func (w *worker) record(code string, d time.Duration, live *liveCount) {
	w.hist.Record(d)
	w.n++
	live.done.Add(1)
	if code != "" {
		w.errs++
		w.codes[code]++
	}
}

// send posts a JSON body (or GETs without one) and returns "" on a 2xx,
// else the problem code. With out nil it is a measured request and goes
// through sendRaw; otherwise the response's JSON is decoded into out.
func (r *Runner) send(ctx context.Context, method, path string, body []byte, out any) string {
	if out == nil {
		return r.sendRaw(ctx, r.serverFor(path), method, path, body)
	}
	code, _, _ := r.sendDetailed(ctx, method, path, body, out)
	return code
}

// serverFor picks the node of a request: client requests go round-robin
// over --server's nodes, admin calls and product look-ups to the first.
func (r *Runner) serverFor(path string) int {
	if len(r.cfg.servers) > 1 && !strings.HasPrefix(path, "/v1/admin/") && !strings.HasPrefix(path, "/v1/products/") {
		return int(r.rr.Add(1)) % len(r.cfg.servers)
	}
	return 0
}

// sendRaw is send for a measured request, through the generator's own
// client (rawhttp.go), whose body only an error's code is read from.
func (r *Runner) sendRaw(ctx context.Context, server int, method, path string, body []byte) string {
	header := r.rawHeader
	if body != nil {
		header = r.rawHeaderJSON
	}
	resp, err := r.raw[server].do(ctx, method, path, header, body, false)
	switch {
	case errors.Is(err, errRawCanceled):
		return "CANCELED"
	case err != nil:
		return string(problem.ServerUnreachable)
	case resp.status >= 400:
		return string(problem.DecodeBytes(resp.status, resp.ctype, "", resp.body).Code)
	case resp.status >= 300:
		return codeRedirect
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RandomDevice returns a hardware profile of a made-up device.
func RandomDevice() hardware.Raw {
	return hardware.Raw{
		SystemUUID:  randomHex(16),
		BoardSerial: randomHex(6),
		Disks:       []string{randomHex(8)},
		MACs:        []string{"02:" + randomHex(1) + ":" + randomHex(1) + ":" + randomHex(1) + ":" + randomHex(1) + ":" + randomHex(1)},
		CPU:         "Bench CPU",
		MemoryGB:    16,
		OSInstallID: randomHex(16),
	}
}

// fixture is what a run prepared on the server.
type fixture struct {
	product string
	salt    []byte
	keys    []string
	// devices activated up front (validate, mixed): their licenses and
	// profiles.
	licenses []json.RawMessage
	profiles []hardware.Profile
	// validateBodies are pre-encoded validation requests, split where the
	// nonce goes: the load generator's own cost stays small.
	validateBodies [][2][]byte
	// cpuHash and memHash are the bench devices' CPU and memory, hashed
	// with the product's salt.
	cpuHash, memHash string
}

// setSalt records the product's hardware salt and hashes the components
// every bench device shares.
func (f *fixture) setSalt(salt []byte) {
	d := RandomDevice().Hash(salt)
	f.salt, f.cpuHash, f.memHash = salt, d.CPU, d.Memory
}

func (r *Runner) admin(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	code, detail, hint := r.sendDetailed(ctx, method, path, body, out)
	if code == "" {
		return nil
	}
	switch problem.Code(code) {
	case problem.ServerUnreachable:
		hint = "is echt serve running at " + r.cfg.servers[0] + "? check --server (http:// or https:// as the server listens)"
	case problem.NotFound:
		hint = "--server is the server's base URL, without a path (for example http://127.0.0.1:8080, not …/v1)"
	case codeRedirect:
		hint = "the address answers with a redirect: give --server the address it redirects to (https:// behind a proxy, say)"
	case problem.Unauthorized, problem.Forbidden:
		switch {
		case r.cfg.TokenSource != "":
			hint = "the token read from " + r.cfg.TokenSource + " is not an admin token of " + r.cfg.servers[0] + ": give one with --token or ECHT_TOKEN"
		case r.cfg.Token != "":
			hint = r.cfg.servers[0] + " does not accept the token given with --token or ECHT_TOKEN as an admin token: it is mistyped, revoked, another server's or not an admin's; check it, or make one (echt admin token create --role admin)"
		default:
			hint = "give an admin token with --token or ECHT_TOKEN (the first one is in DATA/admin-token of the server)"
		}
	}
	msg := fmt.Sprintf("bench: prepare %s %s: %s", method, path, code)
	if detail != "" {
		msg += ": " + detail
	}
	return benchProblem(code, msg, hint)
}

// sendDetailed is send through net/http, for the requests that prepare a
// run (whose failures are shown to the user) and those whose answer is
// decoded into out: it returns the reason code with the server's detail
// and hint (or the connection's error), not the code alone.
func (r *Runner) sendDetailed(ctx context.Context, method, path string, body []byte, out any) (code, detail, hint string) {
	server := r.serverFor(path)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.cfg.servers[server]+path, rd)
	if err != nil {
		return "CLIENT_ERROR", err.Error(), ""
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.Token)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "CANCELED", "", ""
		}
		return string(problem.ServerUnreachable), unwrapURLError(err), ""
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		if ctx.Err() != nil {
			return "CANCELED", "", ""
		}
		return string(problem.ServerUnreachable), err.Error(), ""
	}
	switch {
	case resp.StatusCode >= 400:
		ct := resp.Header.Get("Content-Type")
		pe := problem.DecodeBytes(resp.StatusCode, ct, "", data)
		if foreign, detail := problem.Foreign(resp.StatusCode, ct); foreign {
			return string(pe.Code), detail,
				"check --server: it must be the address of an echt server (echt serve), not of another web server or a proxy in front of it that answered in its place"
		}
		h, _ := pe.Extra["hint"].(string)
		return string(pe.Code), pe.Detail, h
	case resp.StatusCode >= 300:
		return codeRedirect, "answered " + resp.Status + " to " + resp.Header.Get("Location"), ""
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return "BAD_RESPONSE", "the answer is not the JSON of an echt server: " + err.Error(), ""
		}
	}
	return "", "", ""
}

// unwrapURLError is a client error without the method and URL that
// net/http puts before the cause (the caller names the request itself).
func unwrapURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// deviceFailure is the error of an activation that prepares the devices of
// a validate or mixed run: the key it used, shown partially, and what to
// change in the run.
func (r *Runner) deviceFailure(code, detail, key string) error {
	msg := fmt.Sprintf("bench: activate devices: %s", code)
	if detail != "" {
		msg += ": " + detail
	}
	hint := ""
	if p := partialKey(key); p != "" {
		msg += " (key " + p + ")"
	}
	switch problem.Code(code) {
	case problem.KeyBlocked, problem.KeyInvalid, problem.KeyTypo, problem.KeyInUseElsewhere, problem.ActivationLimitReached, problem.SKUMismatch, problem.LicenseExpired:
		if len(r.cfg.GivenKeys) > 0 {
			hint = fmt.Sprintf("every key in --keys-file must be able to activate new devices: remove this one (blocked, used or not this product's keys), or give volume keys with seats for --devices (%d); without --keys-file the run makes its own", r.cfg.Devices)
		}
	}
	return benchProblem(code, msg, hint)
}

// partialKey is a key as the publisher's tools show it (its last group
// only), "" if it is no key.
func partialKey(key string) string {
	k, err := productkey.Parse(key)
	if err != nil {
		return ""
	}
	return productkey.Partial(k.LastGroup())
}

// benchProblem is an error of the run with the reason code the server (or
// the connection) gave, so that echt bench exits with that code's status
// and, with --json, prints it as a problem object.
func benchProblem(code, detail, hint string) error {
	pe := problem.New(problem.Code(code), detail)
	if _, ok := problem.Lookup(problem.Code(code)); !ok {
		pe = problem.New(problem.Internal, detail+" ("+code+")")
	}
	if hint != "" {
		pe.Extra = map[string]any{"hint": hint}
	}
	return pe
}

// note writes a line of progress, if progress is shown.
func (r *Runner) note(format string, a ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, format+"\n", a...)
	}
}

func (r *Runner) prepare(ctx context.Context) (*fixture, error) {
	if len(r.cfg.GivenKeys) > 0 {
		if r.cfg.Product == "" {
			return nil, errors.New("bench: given keys need their product (--product)")
		}
		f := &fixture{product: r.cfg.Product, keys: r.cfg.GivenKeys}
		// A token exempts the run from per-address rate limits: check it
		// (and the product) before measuring, or a refused token shows
		// only as a run of RATE_LIMITED answers.
		if r.cfg.Token != "" {
			if err := r.admin(ctx, "GET", "/v1/admin/products/"+url.PathEscape(r.cfg.Product), nil, nil); err != nil {
				return nil, err
			}
		}
		var p api.ProductInfo
		if code := r.send(ctx, "GET", "/v1/products/"+r.cfg.Product, nil, &p); code != "" {
			return nil, benchProblem(code, fmt.Sprintf("bench: product %s: %s", r.cfg.Product, code), "check --product and --server")
		}
		// The keys must be the product's, or every activation would store
		// a device hashed with another product's salt and spend a seat of
		// a key for good: ask the server about the first and the last.
		for _, i := range []int{0, len(f.keys) - 1} {
			body, _ := json.Marshal(api.KeyCheckRequest{Key: f.keys[i]})
			var kp api.ProductInfo
			if code := r.send(ctx, "POST", "/v1/keys/product", body, &kp); code != "" {
				return nil, benchProblem(code, fmt.Sprintf("bench: key %d of --keys-file (%s): %s", i+1, partialKey(f.keys[i]), code), "give keys the server issued, for --product")
			}
			if kp.ID != r.cfg.Product {
				return nil, benchProblem(string(problem.SKUMismatch), fmt.Sprintf("bench: key %d of --keys-file (%s) is for product %s, not --product %s", i+1, partialKey(f.keys[i]), kp.ID, r.cfg.Product), "give keys of --product, or name their product with --product")
			}
		}
		f.setSalt(p.HardwareSalt)
		if r.cfg.Scenario == ScenarioValidate || r.cfg.Scenario == ScenarioMixed {
			if err := r.activateDevices(ctx, f); err != nil {
				return nil, err
			}
		}
		return f, nil
	}
	id := "bench-" + randomHex(4)
	f := &fixture{product: id}
	var p struct {
		HardwareSalt []byte `json:"hardware_salt"`
	}
	if err := r.admin(ctx, "POST", "/v1/admin/products", map[string]string{"id": id, "name": "echt bench " + id}, &p); err != nil {
		return nil, err
	}
	f.setSalt(p.HardwareSalt)
	policy := map[string]int{"max_devices": 1_000_000}
	if err := r.admin(ctx, "POST", "/v1/admin/skus", map[string]any{"id": id, "product": id, "edition": "Bench", "channel": "volume-mak", "policy": policy}, nil); err != nil {
		return nil, err
	}
	r.note("preparing: product %s, a volume SKU, %d keys", id, r.cfg.Keys)
	for len(f.keys) < r.cfg.Keys {
		n := min(r.cfg.Keys-len(f.keys), keyBatch)
		var b struct {
			Keys []string `json:"keys"`
		}
		if err := r.admin(ctx, "POST", "/v1/admin/skus/"+id+"/keys", map[string]int{"count": n}, &b); err != nil {
			return nil, err
		}
		f.keys = append(f.keys, b.Keys...)
		if r.cfg.Keys > keyBatch {
			r.note("preparing: %d of %d keys issued", len(f.keys), r.cfg.Keys)
		}
	}
	if r.cfg.Scenario == ScenarioValidate || r.cfg.Scenario == ScenarioMixed {
		if err := r.activateDevices(ctx, f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// activateDevices activates cfg.Devices devices for the validate scenario.
func (r *Runner) activateDevices(ctx context.Context, f *fixture) error {
	r.note("preparing: activating %d devices to validate", r.cfg.Devices)
	f.licenses = make([]json.RawMessage, r.cfg.Devices)
	f.profiles = make([]hardware.Profile, r.cfg.Devices)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(r.cfg.Concurrency, 32) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= r.cfg.Devices {
					return
				}
				prof := RandomDevice().Hash(f.salt)
				body, _ := json.Marshal(api.ActivateRequest{Key: f.keys[i%len(f.keys)], Hardware: prof, Nonce: randomHex(8)})
				var resp api.ActivateResponse
				if code, detail, _ := r.sendDetailed(ctx, "POST", "/v1/activations", body, &resp); code != "" {
					mu.Lock()
					if firstErr == nil {
						firstErr = r.deviceFailure(code, detail, f.keys[i%len(f.keys)])
					}
					mu.Unlock()
					return
				}
				f.licenses[i], f.profiles[i] = resp.License, prof
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	const marker = "NONCE-MARKER-0123456789"
	f.validateBodies = make([][2][]byte, len(f.licenses))
	for i := range f.licenses {
		b, err := json.Marshal(api.ValidateRequest{License: f.licenses[i], Hardware: f.profiles[i], Nonce: marker})
		if err != nil {
			return err
		}
		before, after, _ := bytes.Cut(b, []byte(marker))
		f.validateBodies[i] = [2][]byte{before, after}
	}
	return nil
}

func (r *Runner) scenario(name string) (func(ctx context.Context, i int64) string, error) {
	switch name {
	case ScenarioTrivial:
		return func(ctx context.Context, i int64) string { return r.send(ctx, "GET", "/v1/bench/trivial", nil, nil) }, nil
	case ScenarioSign:
		body := []byte(`{"message":"echt bench baseline: one Ed25519 signature per request"}`)
		return func(ctx context.Context, i int64) string { return r.send(ctx, "POST", "/v1/bench/sign", body, nil) }, nil
	case ScenarioActivate:
		return r.activateOne, nil
	case ScenarioPublicCheck:
		return func(ctx context.Context, i int64) string {
			key := r.fix.keys[int(i)%len(r.fix.keys)]
			if i%2 == 0 {
				key = "BCDFG-HJKMP-QRTVW-XY234-" + []string{"6789B", "6789C", "6789D"}[i%3]
			}
			body, _ := json.Marshal(api.KeyCheckRequest{Key: key})
			return r.send(ctx, "POST", "/v1/keys/check", body, nil)
		}, nil
	case ScenarioValidate:
		return r.validateOne, nil
	case ScenarioMixed:
		return func(ctx context.Context, i int64) string {
			switch i % 10 {
			case 0:
				return r.activateOne(ctx, i)
			default:
				return r.validateOne(ctx, i)
			}
		}, nil
	}
	return nil, fmt.Errorf("bench: unknown scenario %q", name)
}

func (r *Runner) activateOne(ctx context.Context, i int64) string {
	return r.send(ctx, "POST", "/v1/activations", r.activateBody(r.fix.keys[int(i)%len(r.fix.keys)]), nil)
}

// activateBody is an activation request for a made-up device, written the
// way encoding/json would write api.ActivateRequest but without its cost
// (the generator shares the machine with the server it measures). Salted
// component hashes are indistinguishable from random bytes, so the
// device's identifying components are drawn at random (math/rand/v2,
// seeded per process) instead of made up and then hashed; the CPU and
// memory, the same on every bench device, are hashed once.
func (r *Runner) activateBody(key string) []byte {
	h := func() string {
		var b [hardware.HashLen / 2]byte
		for j := 0; j < len(b); j += 8 {
			binary.LittleEndian.PutUint64(b[j:], mrand.Uint64())
		}
		return hex.EncodeToString(b[:])
	}
	prof := hardware.Profile{SystemUUID: h(), BoardSerial: h(), Disks: []string{h()}, MACs: []string{h()}, CPU: r.fix.cpuHash, Memory: r.fix.memHash, OSInstallID: h()}
	var nonce [8]byte
	binary.LittleEndian.PutUint64(nonce[:], mrand.Uint64())
	b := make([]byte, 0, 640)
	b = append(b, `{"key":`...)
	b = jsonw.String(b, key)
	b = append(b, `,"hardware":`...)
	b = prof.AppendJSON(b)
	b = append(b, `,"nonce":"`...)
	b = hex.AppendEncode(b, nonce[:])
	return append(b, `"}`...)
}

func (r *Runner) validateOne(ctx context.Context, i int64) string {
	parts := r.fix.validateBodies[int(i)%len(r.fix.validateBodies)]
	nonce := randomHex(8)
	body := make([]byte, 0, len(parts[0])+len(nonce)+len(parts[1]))
	body = append(append(append(body, parts[0]...), nonce...), parts[1]...)
	return r.send(ctx, "POST", "/v1/validations", body, nil)
}

// TopCodes returns error codes by count, most frequent first.
func TopCodes(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return m[out[i]] > m[out[j]] })
	return out
}
