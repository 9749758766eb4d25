// Package postgres is the store for several echt nodes sharing one
// PostgreSQL database.
//
// Design:
//
//   - Group commit. Writes are queued to a few writer goroutines (Config.Writers);
//     each takes the requests waiting for it, up to Config.MaxBatch, and runs
//     them in one transaction on a pooled connection. The activations among
//     them are decided together (activateGroup: two round trips for the
//     group); every other request runs in its own savepoint, so that one
//     failing request does not affect the others. A
//     request is acknowledged only after the commit; if the commit fails,
//     every request of the batch fails. Unlike SQLite, PostgreSQL commits
//     concurrently, so several batches are in flight at once.
//   - Row locks. Activate locks the key's row (SELECT ... FOR UPDATE) before
//     it loads the candidates and calls the decision, so seat limits hold
//     across goroutines and across nodes. EndActivation and SetKeyBlocked
//     take the same lock. A batch locks its keys in key order (the
//     activation group locks all of them first), which keeps batches of
//     different nodes from deadlocking;
//     a batch that still hits a deadlock or serialization failure is rolled
//     back and run again (the decision may be called more than once).
//     Key group assignment (max+1), signing-key rotation and audit inserts
//     are serialized with transaction-level advisory locks; the audit lock
//     is taken last, just before the commit, so that sequence numbers
//     become visible in order.
//   - LISTEN/NOTIFY. Every change to a record that nodes cache is published
//     with pg_notify on the channel "echt_changes" inside the transaction
//     that makes it, so it is delivered only on commit. Watch listens on a
//     dedicated connection; when that connection is lost it reconnects and
//     reports a Change of kind "all", since notifications may have been
//     missed meanwhile.
//   - Work that must run once. ExpireActivations runs in its own transaction
//     that first takes a transaction-level advisory lock with
//     pg_try_advisory_xact_lock: while one node sweeps, the others skip.
//   - Migrations. The goose migrations embedded below migrations/ run on Open
//     while a session-level advisory lock is held on one dedicated
//     connection, so nodes that start together migrate one after the other.
//
// Connection failures, a server shutting down and timeouts wrap
// store.ErrUnavailable; the pool reconnects by itself when the server is back.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/echt-dev/echt/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory lock keys; "echt" in the high half.
const (
	lockMigrate     int64 = 0x65636874_00000001 // session lock while migrating
	lockSKUGroup    int64 = 0x65636874_00000002 // assigning key groups
	lockSigningKeys int64 = 0x65636874_00000003 // rotating signing keys
	lockAudit       int64 = 0x65636874_00000004 // audit seq follows commit order
	lockSweep       int64 = 0x65636874_00000005 // one node sweeps expired activations
)

// Config configures Open.
type Config struct {
	// URL is the database to use, as a postgres:// URL (or a libpq
	// key=value string). Required.
	URL string
	// MaxConns bounds the connection pool, writers included; 0 means 16.
	// Open uses one more connection while it migrates, and every running
	// Watch one of its own.
	MaxConns int
	// Writers is how many write transactions may be in flight at once, each
	// on a connection of the pool; 0 means 2. It must be below MaxConns.
	// Two let one batch commit while the next runs; more writers split the
	// waiting requests into smaller batches, and PostgreSQL's cost is per
	// transaction more than per row (on two CPUs, 4 writers made batches of
	// about 4 activations and cost 1.3 times the CPU per activation of 2).
	Writers int
	// MaxBatch bounds how many writes share one transaction; 0 means 128.
	MaxBatch int
	// ConnectTimeout bounds opening (or pinging) one connection; 0 means
	// the URL's connect_timeout, or else 5s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write transaction, lock waits included;
	// 0 means 30s.
	WriteTimeout time.Duration
	// Logger, if set, hears what Open waits for (another node's
	// migration).
	Logger *slog.Logger
	// ApplicationName names this node's sessions in pg_stat_activity
	// (and so in the wait for another node's migration), unless the URL
	// sets application_name; PostgreSQL keeps its first 63 bytes.
	ApplicationName string
}

// Validate reports whether c can be used by Open.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("postgres: Config.URL is required")
	}
	if _, err := pgxpool.ParseConfig(c.URL); err != nil {
		return fmt.Errorf("postgres: Config.URL: %w", err)
	}
	if c.MaxConns < 0 || c.Writers < 0 || c.MaxBatch < 0 || c.ConnectTimeout < 0 || c.WriteTimeout < 0 {
		return errors.New("postgres: Config has a negative value")
	}
	c = c.withDefaults()
	if c.Writers >= c.MaxConns {
		return fmt.Errorf("postgres: Config.Writers (%d) must be below Config.MaxConns (%d) to leave connections for reads", c.Writers, c.MaxConns)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxConns == 0 {
		c.MaxConns = 16
	}
	if c.Writers == 0 {
		c.Writers = 2
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 128
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	return c
}

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool *pgxpool.Pool
	cfg  Config

	ops     chan *op
	mu      sync.RWMutex // held for reading while queueing, for writing by Close
	closed  bool
	closing chan struct{}
	writers sync.WaitGroup
	once    sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at cfg.URL and migrates it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pc.MaxConns = int32(cfg.MaxConns)
	switch {
	case cfg.ConnectTimeout > 0:
		pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	case pc.ConnConfig.ConnectTimeout == 0:
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pc.PingTimeout = pc.ConnConfig.ConnectTimeout
	// Every query of the server has an index to use. Prepared statements
	// get generic plans, and a plan made while a table is still empty (a
	// new deployment) would otherwise keep scanning it as it grows: with
	// sequential scans priced out, plans stay index-based at any size.
	if _, set := pc.ConnConfig.RuntimeParams["enable_seqscan"]; !set {
		pc.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	}
	if _, set := pc.ConnConfig.RuntimeParams["application_name"]; !set && cfg.ApplicationName != "" {
		pc.ConnConfig.RuntimeParams["application_name"] = cfg.ApplicationName
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migrate(ctx, pool, cfg.Logger); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{
		pool:    pool,
		cfg:     cfg,
		ops:     make(chan *op, 4096),
		closing: make(chan struct{}),
	}
	s.writers.Add(cfg.Writers)
	for range cfg.Writers {
		go s.writer()
	}
	return s, nil
}

// migrate runs the goose migrations while holding the migration advisory
// lock on a dedicated connection. Closing that connection releases the lock
// even if unlocking fails.
func migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", wrapErr(err))
	}
	defer closeConn(conn)
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockMigrate).Scan(&got); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", wrapErr(err))
	}
	if !got {
		// Wait for the lock, trying every 100 ms and saying every 10 s
		// who holds it: a node that never finishes (or a session someone
		// left open) is then named.
		start := time.Now()
		var said time.Time
		for !got {
			if logger != nil && time.Since(said) >= 10*time.Second {
				said = time.Now()
				var holder string
				_ = conn.QueryRow(ctx, `SELECT coalesce(string_agg(format('pid %s (%s, %s)', l.pid, a.application_name, a.client_addr), ', '), 'unknown')
					FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
					WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ($1::bigint >> 32)::oid AND l.objid = ($1::bigint & 4294967295)::oid AND l.objsubid = 1`, lockMigrate).Scan(&holder)
				logger.Info("waiting for another node's migration (PostgreSQL advisory lock)", "waited", time.Since(start).Round(time.Second), "held_by", holder)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("postgres: migrate: lock: %w", ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
			if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockMigrate).Scan(&got); err != nil {
				return fmt.Errorf("postgres: migrate: lock: %w", wrapErr(err))
			}
		}
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", wrapErr(err))
	}
	if err := store.CheckSchema(ctx, p); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lockMigrate); err != nil {
		return fmt.Errorf("postgres: migrate: unlock: %w", wrapErr(err))
	}
	return nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// Pool returns the connection pool, for tools such as backups and copies.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.closing:
		return store.ErrClosed
	default:
	}
	if err := s.pool.Ping(ctx); err != nil {
		err = wrapErr(err)
		if !errors.Is(err, store.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres ping: %w", err)
	}
	return nil
}

// Close implements store.Store: it stops accepting writes, finishes the
// pending ones and closes the pool. Running Watch calls return
// store.ErrClosed.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
		s.writers.Wait()
		s.pool.Close()
	})
	return nil
}

// SQLSTATE codes the store acts on.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeReadOnlyTransaction  = "25006" // a standby, as after a failover
	codeAdminShutdown        = "57P01"
	codeCrashShutdown        = "57P02"
	codeCannotConnectNow     = "57P03"
	// Time limits an operator may set (statement_timeout, lock_timeout,
	// idle_in_transaction_session_timeout, idle_session_timeout): the
	// database could not do the work in time, so try again later.
	codeQueryCanceled      = "57014"
	codeLockNotAvailable   = "55P03"
	codeIdleInTxTimeout    = "25P03"
	codeIdleSessionTimeout = "57P05"
	codeUndefinedTable     = "42P01" // the database was recreated empty under the node
)

// wrapErr maps driver errors to the store's: no rows to ErrNotFound, unique
// violations to ErrExists, and everything that says the server cannot be
// reached or used right now to ErrUnavailable. Other errors pass unchanged.
func wrapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	if sqlState(err) == codeUniqueViolation {
		return fmt.Errorf("%w: %w", store.ErrExists, err)
	}
	return err
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func unavailable(err error) bool {
	// Whatever keeps a connection from being made makes the store
	// unavailable, whichever SQLSTATE the server gave: the server is
	// starting or shutting down (57P03), the database refuses connections
	// (55000) or is gone (3D000), too many clients (53300).
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if code := sqlState(err); code != "" {
		switch {
		case code[:2] == "08", code[:2] == "53":
			return true
		}
		switch code {
		case codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow, codeReadOnlyTransaction,
			codeQueryCanceled, codeLockNotAvailable, codeIdleInTxTimeout, codeIdleSessionTimeout, codeUndefinedTable:
			return true
		}
		return false
	}
	var ne net.Error
	return pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &ne)
}

// retryable reports whether a batch that failed with err may run again:
// PostgreSQL aborted it to break a deadlock or a serialization conflict.
func retryable(err error) bool {
	switch sqlState(err) {
	case codeDeadlockDetected, codeSerializationFailure:
		return true
	}
	return false
}
