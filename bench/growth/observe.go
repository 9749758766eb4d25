package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// machine is what the results were measured on.
type machine struct {
	CPUModel    string `json:"cpu_model"`
	CPUs        int    `json:"cpus"`
	MemoryBytes int64  `json:"memory_bytes"`
	GoVersion   string `json:"go_version"`
	OS          string `json:"os"`
	Kernel      string `json:"kernel,omitempty"`
}

func readMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, CPUModel: "unknown CPU"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemoryBytes = kb * 1024
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func (m machine) summary() string {
	s := fmt.Sprintf("%s, %d CPUs, %s RAM, %s, %s", m.CPUModel, m.CPUs, bytesIEC(m.MemoryBytes), m.GoVersion, m.OS)
	if m.Kernel != "" {
		s += " " + m.Kernel
	}
	return s
}

// clockTicks is USER_HZ, the unit of /proc/stat and /proc/PID/stat times:
// 100 on every Linux platform Go supports.
const clockTicks = 100

type cpuTimes struct {
	ok                  bool
	total, idle, iowait uint64
}

// readCPU reads the machine's CPU time from the first line of /proc/stat.
func readCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return cpuTimes{}
	}
	var t cpuTimes
	// user nice system idle iowait irq softirq steal (guest is in user).
	for i := 1; i < len(f) && i <= 8; i++ {
		v, _ := strconv.ParseUint(f[i], 10, 64)
		t.total += v
		switch i {
		case 4:
			t.idle = v
		case 5:
			t.iowait = v
		}
	}
	t.ok = true
	return t
}

type procTimes struct {
	ok                    bool
	ticks                 uint64 // user + system
	readBytes, writeBytes uint64 // from storage, /proc/PID/io
	ioOK                  bool
}

func readProc(pid int) procTimes {
	if pid <= 0 {
		return procTimes{}
	}
	var p procTimes
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return p
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return p
	}
	f := strings.Fields(s[i+1:])
	// After the command: state is field 3, utime 14 and stime 15.
	if len(f) < 13 {
		return p
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	p.ticks, p.ok = ut+st, true
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			switch k {
			case "read_bytes":
				p.readBytes = n
			case "write_bytes":
				p.writeBytes = n
			}
		}
		p.ioOK = true
	}
	return p
}

// pgStats reads the statistics of the measured database from another
// database of the server, so that reading them adds no transaction to it.
type pgStats struct {
	conn   *pgx.Conn
	dbName string
	walOK  bool
}

func openPGStats(ctx context.Context, server, dbName string) (*pgStats, error) {
	conn, err := connectPG(ctx, server)
	if err != nil {
		return nil, err
	}
	p := &pgStats{conn: conn, dbName: dbName, walOK: true}
	return p, nil
}

func (p *pgStats) close() {
	if p != nil && p.conn != nil {
		p.conn.Close(context.Background())
	}
}

type pgCounters struct {
	ok                          bool
	xacts, blksRead, blksHit    float64
	walOK                       bool
	walBytes, walSync, walWrite float64
}

func (p *pgStats) read() pgCounters {
	var c pgCounters
	if p == nil || p.conn == nil {
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := p.conn.QueryRow(ctx, `SELECT (xact_commit + xact_rollback)::float8, blks_read::float8, blks_hit::float8 FROM pg_stat_database WHERE datname = $1`, p.dbName).
		Scan(&c.xacts, &c.blksRead, &c.blksHit)
	c.ok = err == nil
	if p.walOK {
		// pg_stat_wal is PostgreSQL 14 and later, and server-wide.
		err := p.conn.QueryRow(ctx, `SELECT wal_bytes::float8, wal_write::float8, wal_sync::float8 FROM pg_stat_wal`).Scan(&c.walBytes, &c.walWrite, &c.walSync)
		c.walOK = err == nil
		if err != nil {
			p.walOK = false
		}
	}
	return c
}

type sample struct {
	at       time.Time
	cpu      cpuTimes
	srv, cli procTimes
	pg       pgCounters
	backends map[int]uint64 // CPU ticks of the database's PostgreSQL backends, by PID
}

// backendTicks returns the CPU ticks of the PostgreSQL backends connected
// to database dbName on this machine, by PID: processes whose title is
// "postgres: ... USER DBNAME HOST(PORT) STATE". Nil if there are none (a
// remote server) or /proc cannot be read.
func backendTicks(dbName string) map[int]uint64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out map[int]uint64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.HasPrefix(b, []byte("postgres: ")) || !bytes.Contains(b, []byte(" "+dbName+" ")) {
			continue
		}
		if p := readProc(pid); p.ok {
			if out == nil {
				out = map[int]uint64{}
			}
			out[pid] = p.ticks
		}
	}
	return out
}

// sampler reads the counters every 200 ms while a bench runs.
type sampler struct {
	srvPID, cliPID int
	pg             *pgStats
	mu             sync.Mutex
	samples        []sample
	stop, done     chan struct{}
}

func startSampler(srvPID, cliPID int, pg *pgStats) *sampler {
	s := &sampler{srvPID: srvPID, cliPID: cliPID, pg: pg, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			s.take()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) take() {
	x := sample{at: time.Now(), cpu: readCPU(), srv: readProc(s.srvPID), cli: readProc(s.cliPID), pg: s.pg.read()}
	if s.pg != nil {
		x.backends = backendTicks(s.pg.dbName)
	}
	s.mu.Lock()
	s.samples = append(s.samples, x)
	s.mu.Unlock()
}

func (s *sampler) finish() []sample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// observation is what the machine did during the measured phase of a
// bench run: its last `duration` seconds (the baselines and the fixture
// come before it). Fractions are of all CPUs; cores are CPUs' worth.
type observation struct {
	OK            bool    `json:"ok"`
	WindowSeconds float64 `json:"window_seconds"`
	CPUBusy       float64 `json:"cpu_busy"`
	IOWait        float64 `json:"iowait"`
	BusyCores     float64 `json:"busy_cores"`
	ServerCores   float64 `json:"server_cores"`
	ClientCores   float64 `json:"client_cores"`
	// PGCores is the CPU time of this database's PostgreSQL backends, when
	// the server runs on this machine.
	PGCores    float64 `json:"postgres_backend_cores,omitempty"`
	OtherCores float64 `json:"other_cores"`
	// Disk traffic of the echt server process (storage layer, not the
	// page cache); for SQLite this is the database's.
	ServerIO            bool           `json:"server_io"`
	ServerReadMBps      float64        `json:"server_read_mb_per_s"`
	ServerWriteMBps     float64        `json:"server_write_mb_per_s"`
	ServerWriteKBPerReq float64        `json:"server_write_kb_per_request"`
	PG                  *pgObservation `json:"postgres,omitempty"`
}

type pgObservation struct {
	XactsPerSec     float64  `json:"transactions_per_s"`
	XactsPerRequest float64  `json:"transactions_per_request"`
	BlocksReadPerS  float64  `json:"blocks_read_per_s"`
	HitRatio        *float64 `json:"buffer_hit_ratio,omitempty"`
	WALKBPerRequest *float64 `json:"wal_kb_per_request,omitempty"`
	WALSyncsPerSec  *float64 `json:"wal_syncs_per_s,omitempty"`
}

// observe turns samples into rates over the measured phase: the samples
// from duration before the load generator's last reading to that reading.
func observe(samples []sample, duration time.Duration, rps float64) observation {
	end := -1
	for i := len(samples) - 1; i >= 0; i-- {
		if samples[i].cli.ok {
			end = i
			break
		}
	}
	if end < 1 {
		return observation{}
	}
	start := end
	for start > 0 && samples[end].at.Sub(samples[start-1].at) <= duration {
		start--
	}
	a, b := samples[start], samples[end]
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 || !a.cpu.ok || !b.cpu.ok {
		return observation{}
	}
	o := observation{OK: true, WindowSeconds: dt}
	total := float64(b.cpu.total - a.cpu.total)
	idle := float64(b.cpu.idle - a.cpu.idle)
	iow := float64(b.cpu.iowait - a.cpu.iowait)
	if total > 0 {
		o.CPUBusy = (total - idle - iow) / total
		o.IOWait = iow / total
	}
	o.BusyCores = (total - idle - iow) / clockTicks / dt
	if a.srv.ok && b.srv.ok {
		o.ServerCores = float64(b.srv.ticks-a.srv.ticks) / clockTicks / dt
	}
	o.ClientCores = float64(b.cli.ticks-a.cli.ticks) / clockTicks / dt
	for pid, t := range b.backends {
		if t0 := a.backends[pid]; t >= t0 { // a new backend's time counts from its start
			o.PGCores += float64(t-t0) / clockTicks / dt
		}
	}
	o.OtherCores = max(0, o.BusyCores-o.ServerCores-o.ClientCores-o.PGCores)
	requests := rps * dt
	if a.srv.ioOK && b.srv.ioOK {
		o.ServerIO = true
		o.ServerReadMBps = float64(b.srv.readBytes-a.srv.readBytes) / 1e6 / dt
		o.ServerWriteMBps = float64(b.srv.writeBytes-a.srv.writeBytes) / 1e6 / dt
		if requests > 0 {
			o.ServerWriteKBPerReq = float64(b.srv.writeBytes-a.srv.writeBytes) / 1e3 / requests
		}
	}
	if a.pg.ok && b.pg.ok {
		p := &pgObservation{XactsPerSec: (b.pg.xacts - a.pg.xacts) / dt, BlocksReadPerS: (b.pg.blksRead - a.pg.blksRead) / dt}
		if requests > 0 {
			p.XactsPerRequest = (b.pg.xacts - a.pg.xacts) / requests
		}
		if acc := (b.pg.blksRead - a.pg.blksRead) + (b.pg.blksHit - a.pg.blksHit); acc > 0 {
			h := (b.pg.blksHit - a.pg.blksHit) / acc
			p.HitRatio = &h
		}
		if a.pg.walOK && b.pg.walOK {
			if requests > 0 {
				w := (b.pg.walBytes - a.pg.walBytes) / 1e3 / requests
				p.WALKBPerRequest = &w
			}
			s := (b.pg.walSync - a.pg.walSync) / dt
			p.WALSyncsPerSec = &s
		}
		o.PG = p
	}
	return o
}
