// Package clitest builds the echt binary and runs it as a real subprocess:
// servers on loopback ports with their own data directories, and agent and
// admin commands against them. End-to-end tests use it.
package clitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/echt once per test process (with the echt_testclock
// tag, so tests can move the agent's clock) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "echt-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "echt")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		args := []string{"build", "-tags", "echt_testclock", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/echt-dev/echt/cmd/echt")
		cmd := exec.Command("go", args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Main runs a test package's tests (from its TestMain) and removes the
// binary Binary built.
func Main(m *testing.M) int {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	return code
}

// Server is a running `echt serve` subprocess.
type Server struct {
	t     testing.TB
	Bin   string
	Data  string
	URL   string
	Token string
	Args  []string
	Env   []string
	cmd   *exec.Cmd
	logs  *bytes.Buffer
	logMu *sync.Mutex
	done  chan struct{}
}

// StartServer runs `echt serve` with a fresh data directory (or data, if
// given in opts) on a free loopback port and waits until it is ready.
func StartServer(t testing.TB, data string, env []string, args ...string) *Server {
	t.Helper()
	if data == "" {
		data = filepath.Join(t.TempDir(), "echt-data")
	}
	s := &Server{t: t, Bin: Binary(t), Data: data, Args: args, Env: env}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	t := s.t
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", s.Data, "--rate-limit", "0", "--check-rate-limit", "0"}, s.Args...)
	cmd := exec.Command(s.Bin, args...)
	cmd.Env = append(os.Environ(), s.Env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.logs = &bytes.Buffer{}
	s.logMu = &sync.Mutex{}
	cmd.Stderr = &lockedWriter{mu: s.logMu, w: s.logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			s.logs.WriteString("[stdout] " + line + "\n")
			s.logMu.Unlock()
			if u, ok := strings.CutPrefix(line, "echt: serving on "); ok {
				urlc <- u
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(s.done) }()
	select {
	case s.URL = <-urlc:
	case <-s.done:
		t.Fatalf("echt serve exited early:\n%s", s.Logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("echt serve did not start in 60s:\n%s", s.Logs())
	}
	if b, err := os.ReadFile(filepath.Join(s.Data, "admin-token")); err == nil {
		s.Token = strings.TrimSpace(string(b))
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Logs returns everything the server wrote so far.
func (s *Server) Logs() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logs.String()
}

// Stop stops the server gracefully (SIGTERM), or kills it after 10s.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Kill kills the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Restart starts the server again on the same data directory (new port).
func (s *Server) Restart() {
	s.Stop()
	s.start()
}

// Result is the outcome of one command.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// JSON decodes stdout into v.
func (r Result) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.Stdout), v); err != nil {
		t.Fatalf("stdout is not JSON: %v\nstdout: %s\nstderr: %s", err, r.Stdout, r.Stderr)
	}
}

// Run runs the echt binary with args and the environment env (on top of a
// minimal one: ECHT_SERVER and ECHT_TOKEN of the server, if any).
func Run(t testing.TB, s *Server, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANG=C"}
	if s != nil {
		base = append(base, "ECHT_SERVER="+s.URL, "ECHT_TOKEN="+s.Token)
	}
	cmd.Env = append(base, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run echt %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// WriteJSON writes v as JSON to a new file in dir and returns its path.
func WriteJSON(t testing.TB, dir, name string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
