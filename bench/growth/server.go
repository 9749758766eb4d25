package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/echt-dev/echt/internal/keyring"
	"github.com/echt-dev/echt/internal/loadgen"
	"github.com/echt-dev/echt/internal/store/sqlite"
)

// The product and SKU the loaded activations belong to.
const (
	productID = "growth"
	skuID     = "growth-volume"
)

// childEnv is this process's environment without ECHT_* variables, so that
// a user's ECHT_DB or ECHT_TOKEN cannot redirect the servers and commands
// this program starts.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ECHT_") {
			env = append(env, kv)
		}
	}
	return env
}

func goBuild(ctx context.Context, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/echt")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build ./cmd/echt: %v\n%s", err, out)
	}
	return nil
}

// server is an `echt serve` process that can be stopped and started again
// on the same data.
type server struct {
	bin, data, logPath string
	args               []string
	cmd                *exec.Cmd
	done               chan struct{}
	url, token         string
}

func (s *server) pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// start runs the server and waits for "echt: serving on URL".
func (s *server) start(ctx context.Context) error {
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", s.data, "--rate-limit", "0", "--check-rate-limit", "0"}, s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Env = childEnv()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start echt serve: %w", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	urlc := make(chan string, 1)
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			// stdout also carries the first admin token: never logged.
			if u, ok := strings.CutPrefix(sc.Text(), "echt: serving on "); ok {
				select {
				case urlc <- strings.TrimSpace(u):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		<-read
		_ = cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	select {
	case s.url = <-urlc:
	case <-s.done:
		return fmt.Errorf("echt serve exited early; its log %s ends:\n%s", s.logPath, tail(s.logPath, 2000))
	case <-time.After(2 * time.Minute):
		_ = s.stop()
		return fmt.Errorf("echt serve did not start within 2 minutes; see %s", s.logPath)
	case <-ctx.Done():
		_ = s.stop()
		return ctx.Err()
	}
	b, err := os.ReadFile(filepath.Join(s.data, "admin-token"))
	if err != nil {
		_ = s.stop()
		return fmt.Errorf("read the admin token: %w", err)
	}
	s.token = strings.TrimSpace(string(b))
	return nil
}

// stop stops the server with SIGTERM (SQLite checkpoints its WAL on the
// way out), or kills it after two minutes.
func (s *server) stop() error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(2 * time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("echt serve did not stop within 2 minutes of SIGTERM: killed")
	}
}

// tail returns the last n bytes of a file.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// echt runs the binary with args and returns its stdout.
func echt(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("echt %s: %v: %s", strings.Join(redactArgs(args), " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

func redactArgs(args []string) []string {
	out := append([]string(nil), args...)
	for i := 1; i < len(out); i++ {
		if out[i-1] == "--token" {
			out[i] = "REDACTED"
		}
	}
	return out
}

// runBench runs one `echt bench --json` while sampling the machine, and
// returns its result and what the samples show about the measured phase.
func runBench(ctx context.Context, o options, bin string, srv *server, pg *pgStats, scenario string, baseline bool) (loadgen.Result, observation, error) {
	args := []string{"bench", "--server", srv.url, "--token", srv.token, "--scenario", scenario,
		"--duration", o.duration.String(), "--concurrency", strconv.Itoa(o.concurrency), "--json"}
	if baseline {
		args = append(args, "--baseline")
	}
	if o.devices > 0 && scenario == loadgen.ScenarioValidate {
		args = append(args, "--devices", strconv.Itoa(o.devices))
	}
	ctx, cancel := context.WithTimeout(ctx, 4*o.duration+15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return loadgen.Result{}, observation{}, err
	}
	sm := startSampler(srv.pid(), cmd.Process.Pid, pg)
	err := cmd.Wait()
	samples := sm.finish()
	if ctx.Err() != nil {
		return loadgen.Result{}, observation{}, fmt.Errorf("echt bench --scenario %s: %w", scenario, context.Cause(ctx))
	}
	if err != nil {
		return loadgen.Result{}, observation{}, fmt.Errorf("echt %s: %v: %s", strings.Join(redactArgs(args), " "), err, strings.TrimSpace(errb.String()))
	}
	var res loadgen.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return loadgen.Result{}, observation{}, fmt.Errorf("echt bench --json printed no JSON: %v: %s", err, out.String())
	}
	return res, observe(samples, o.duration, res.RPS), nil
}

// runStore grows one database through the sizes and measures each.
func runStore(ctx context.Context, o options, rep *report, name, bin, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if !o.keep {
		// Free the disk before the next store grows its database.
		defer os.RemoveAll(dir)
	}
	data := filepath.Join(dir, "echt-data")
	srv := &server{bin: bin, data: data, logPath: filepath.Join(dir, "serve.log")}
	var db backend
	var pg *pgStats
	switch name {
	case storeSQLite:
		db = &sqliteDB{path: filepath.Join(data, sqlite.FileName)}
	case storePostgres:
		dbURL, dbName, drop, err := createDatabase(ctx, o.postgres)
		if err != nil {
			return err
		}
		if o.keep {
			log.Printf("postgres: database %s (kept)", dbName)
		} else {
			defer drop()
		}
		mk := filepath.Join(dir, "master.key")
		if err := os.WriteFile(mk, []byte(keyring.GenerateMasterKey()+"\n"), 0o600); err != nil {
			return err
		}
		srv.args = []string{"--db", dbURL, "--master-key-file", mk}
		db = &pgDB{url: dbURL}
		if pg, err = openPGStats(ctx, o.postgres, dbName); err != nil {
			log.Printf("postgres: no statistics during measurements: %v", err)
		}
		defer pg.close()
	}
	defer srv.stop()

	// First start: migrations, keys, admin token; then the product and
	// SKU the loaded activations belong to, through the admin API.
	log.Printf("%s: first start of echt serve", name)
	if err := srv.start(ctx); err != nil {
		return err
	}
	admin := []string{"--server", srv.url, "--token", srv.token}
	if _, err := echt(ctx, bin, append([]string{"admin", "product", "create", productID, "--name", "echt growth benchmark"}, admin...)...); err != nil {
		return err
	}
	if _, err := echt(ctx, bin, append([]string{"admin", "sku", "create", skuID, "--product", productID, "--edition", "Volume",
		"--channel", "volume-mak", "--max-devices", strconv.Itoa(activationsPerKey)}, admin...)...); err != nil {
		return err
	}
	if err := srv.stop(); err != nil {
		return err
	}
	info, err := db.info(ctx)
	if err != nil {
		return err
	}
	rep.Stores[name] = info

	gen := newGenerator(o.sizes[len(o.sizes)-1])
	for _, size := range o.sizes {
		have, err := db.count(ctx)
		if err != nil {
			return err
		}
		ld := loadResult{Store: name, Target: size, Before: have}
		if size > have {
			log.Printf("%s: loading %s activations (%s → %s)", name, short(float64(size-have)), short(float64(have)), short(float64(size)))
			t0 := time.Now()
			st, err := db.load(ctx, gen, size-have)
			if err != nil {
				return err
			}
			ld.Activations, ld.Keys, ld.Anchors = st.activations, st.keys, st.anchors
			ld.Rows = st.activations + st.keys + st.anchors
			ld.Seconds = time.Since(t0).Seconds()
			ld.RowsPerSec = float64(ld.Rows) / ld.Seconds
			log.Printf("%s: loaded %d rows in %.1fs (%.0f rows/s)", name, ld.Rows, ld.Seconds, ld.RowsPerSec)
		} else {
			log.Printf("%s: already %d activations, no load for %d", name, have, size)
		}
		ld.After = have + ld.Activations
		if ld.DBBytes, err = db.size(ctx); err != nil {
			return err
		}
		rep.Loads = append(rep.Loads, ld)

		if err := srv.start(ctx); err != nil {
			return err
		}
		for _, sc := range []string{loadgen.ScenarioValidate, loadgen.ScenarioActivate} {
			// The baselines run once per size, with validate.
			baseline := sc == loadgen.ScenarioValidate
			flags := ""
			if baseline {
				flags = " --baseline"
			}
			log.Printf("%s @ %s: echt bench --scenario %s%s (%s)", name, short(float64(ld.After)), sc, flags, o.duration)
			res, obs, err := runBench(ctx, o, bin, srv, pg, sc, baseline)
			if err != nil {
				return err
			}
			r := result{Store: name, Size: size, Activations: ld.After, Scenario: sc, Bench: res, Obs: obs, DBBytes: ld.DBBytes, LoadRowsPerSec: ld.RowsPerSec}
			rep.add(r)
			l := res.LatencyMS
			log.Printf("%s @ %s: %s %.0f req/s, p50 %.2f p99 %.2f p99.9 %.2f ms, %d errors; %s", name, short(float64(ld.After)), sc, res.RPS, l.P50, l.P99, l.P999, res.Errors, rep.Results[len(rep.Results)-1].Limit)
			if err := rep.write(o); err != nil {
				return err
			}
		}
		if err := srv.stop(); err != nil {
			return err
		}
	}
	return nil
}
