// Package sqlite is the embedded store: one SQLite file in WAL mode, one
// writer connection and a pool of read-only ones.
//
// Writes go through a single writer goroutine that groups the requests
// waiting for it into one transaction (group commit): the activations among
// them are decided together, in order (activateGroup); every other request
// runs in its own savepoint, so one failing request does not affect the
// others. All of them are acknowledged only after the commit is synced to
// disk. The sync runs on a goroutine of its own (Store.syncer), so the
// writer starts the next transaction while the disk writes the previous
// one.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// FileName is the database file inside the data directory.
const FileName = "echt.db"

// Config configures Open.
type Config struct {
	// Path is the database file. Required.
	Path string
	// Readers is the number of read connections; 0 means 4.
	Readers int
	// MaxBatch bounds how many writes share one transaction; 0 means 256,
	// at most 512.
	MaxBatch int
}

// Store is the SQLite implementation of store.Store.
type Store struct {
	path     string
	w        *sql.DB // exactly one connection, the writer
	r        *sql.DB // read-only pool
	ck       *sql.DB // checkpoints, off the writer's path
	ops      chan *op
	synced   chan syncBatch // committed batches, for the syncer
	syncDone chan struct{}
	walPath  string
	// committing counts the transactions the writer began to commit;
	// durable, how many of them a finished sync covered. A read waits
	// until every commit it may have seen is durable (awaitDurable).
	committing atomic.Int64
	durable    atomic.Int64
	durableMu  sync.Mutex
	durableCh  chan struct{} // closed and replaced when durable grows
	// mu guards closed: a request is queued only while the store is open.
	mu     sync.RWMutex
	closed bool
	// the syncer's own state
	wal        *os.File
	walInfo    os.FileInfo
	syncErr    error
	syncFailed atomic.Bool
	maxBatch   int
	done       chan struct{}
	closing    chan struct{}
	ckDone     chan struct{}
	once       sync.Once

	watchMu  sync.Mutex
	watchers map[int]chan store.Change
	watchSeq int

	// keys holds product keys as the last commit left them, for the
	// writer alone: a group reads from the database only the keys it
	// lacks (a volume key's seat counters change with every activation).
	// A group's keys become the cache only once it has committed; any
	// other write, or a failure, empties it.
	keys      map[string]store.BatchKey
	keysStage map[string]store.BatchKey
	// dataVersion is PRAGMA data_version as the writer last saw it: it
	// changes when another connection commits to the file (a second
	// process despite the data directory's lock), which empties the cache.
	dataVersion int64

	stmts         map[string]*sql.Stmt // writer statements, prepared once
	dyn           map[string]*sql.Stmt // activateGroup's statements, by SQL (groupStatements)
	byAnchorStmts map[int]*sql.Stmt    // reader: activations by anchors, by count
	rstmt         map[string]*sql.Stmt // reader statements
}

var _ store.Store = (*Store)(nil)

type role int

const (
	reader role = iota
	writer
	checkpointer
)

func dsn(path string, r role) string {
	q := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_time_format=sqlite"
	switch r {
	case reader:
		q += "&_pragma=synchronous(FULL)&_pragma=query_only(1)"
	case writer:
		// Commits are synced by Store.syncer, off the writer's path.
		// A 16 MiB page cache, not more: a commit after a B-tree split
		// walks the cache's whole hash table (SQLite moves split pages
		// through a temporary page number far past the end of the file,
		// and truncating it away scans every bucket), so a larger cache
		// costs every such commit more than its extra hits save; 16 MiB
		// measured 5-8% more activations/s than 64 MiB at 10k and 1M
		// activations, and more than 4 or 8 MiB.
		q += "&_pragma=synchronous(NORMAL)&_txlock=immediate&_pragma=cache_size(-16384)&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(0)"
	case checkpointer:
		// A checkpoint syncs the log before it copies it into the
		// database file, and the database file after.
		q += "&_pragma=synchronous(FULL)&_txlock=immediate&_pragma=wal_autocheckpoint(0)"
	}
	return "file:" + filepath.ToSlash(path) + "?" + q
}

// Open opens (creating if needed) the database at cfg.Path and migrates it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite: Config.Path is required")
	}
	if cfg.Readers <= 0 {
		cfg.Readers = 4
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	// A batch's anchors go into one IN list of at most SQLite's 32766
	// variables (rounded up to a power of two: 512 × 19 anchors → 16384).
	cfg.MaxBatch = min(cfg.MaxBatch, 512)
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// SQLite gives the -wal and -shm files the database file's mode: make
	// it 0600 before SQLite creates any of them.
	if f, err := os.OpenFile(cfg.Path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}
	w, err := sql.Open("sqlite", dsn(cfg.Path, writer))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	for _, p := range []string{cfg.Path, cfg.Path + "-wal", cfg.Path + "-shm"} {
		_ = os.Chmod(p, 0o600)
	}
	r, err := sql.Open("sqlite", dsn(cfg.Path, reader))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	r.SetMaxOpenConns(cfg.Readers)
	r.SetMaxIdleConns(cfg.Readers)
	r.SetConnMaxIdleTime(0)
	r.SetConnMaxLifetime(0)
	s := &Store{
		path: cfg.Path,
		w:    w,
		r:    r,
		ops:  make(chan *op, 4096),
		// One committed batch may wait while the syncer syncs the one
		// before: the writer then waits too, and the requests arriving
		// meanwhile make the next batch larger (fewer, fuller commits:
		// measured about 10% more activations per second than a deeper
		// queue, with less CPU).
		synced:    make(chan syncBatch, 1),
		durableCh: make(chan struct{}),
		syncDone:  make(chan struct{}),
		maxBatch:  cfg.MaxBatch,
		done:      make(chan struct{}),
		closing:   make(chan struct{}),
		ckDone:    make(chan struct{}),
		watchers:  map[int]chan store.Change{},
	}
	if err := s.prepare(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	ck, err := sql.Open("sqlite", dsn(cfg.Path, checkpointer))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	ck.SetMaxOpenConns(1)
	s.ck = ck
	// SQLite keeps its log beside the real file, behind any symlink.
	real, err := filepath.EvalSymlinks(cfg.Path)
	if err != nil {
		real = cfg.Path
	}
	s.walPath = real + "-wal"
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		w.Close()
		r.Close()
		ck.Close()
		return nil, fmt.Errorf("sqlite: %s is not in WAL mode (journal_mode %q, %v): keep the data directory on a local file system", cfg.Path, mode, err)
	}
	// The migrations committed without a sync.
	if _, err := os.Stat(s.walPath); err == nil {
		if err := s.syncWAL(); err != nil {
			w.Close()
			r.Close()
			ck.Close()
			return nil, err
		}
	}
	go s.writer()
	go s.syncer()
	go s.checkpointer()
	return s, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	goose.SetLogger(goose.NopLogger())
	p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"))
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if err := store.CheckSchema(ctx, p); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// Path returns the database file path.
func (s *Store) Path() string { return s.path }

// DB returns the read-only pool, for tools such as backups and copies.
func (s *Store) DB() *sql.DB { return s.r }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.closing:
		return store.ErrClosed
	default:
	}
	if s.syncFailed.Load() {
		return errSyncFailed
	}
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite ping: %w: %v", store.ErrUnavailable, err)
	}
	return nil
}

// Close implements store.Store: it stops accepting writes, finishes the
// pending ones and closes the database.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
		<-s.done
		<-s.syncDone
		if s.wal != nil {
			s.wal.Close()
		}
		s.watchMu.Lock()
		for id, ch := range s.watchers {
			close(ch)
			delete(s.watchers, id)
		}
		s.watchMu.Unlock()
	})
	<-s.ckDone
	_, _ = s.ck.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	err1 := s.r.Close()
	err2 := s.w.Close()
	err3 := s.ck.Close()
	return errors.Join(err1, err2, err3)
}

// Watch implements store.Store (in-process: one SQLite file has one node).
func (s *Store) Watch(ctx context.Context, fn func(store.Change)) error {
	ch := make(chan store.Change, 1024)
	s.watchMu.Lock()
	id := s.watchSeq
	s.watchSeq++
	s.watchers[id] = ch
	s.watchMu.Unlock()
	defer func() {
		s.watchMu.Lock()
		if _, ok := s.watchers[id]; ok {
			delete(s.watchers, id)
			close(ch)
		}
		s.watchMu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c, ok := <-ch:
			if !ok {
				return store.ErrClosed
			}
			fn(c)
		}
	}
}

func (s *Store) publish(changes []store.Change) {
	if len(changes) == 0 {
		return
	}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for _, ch := range s.watchers {
		for _, c := range changes {
			select {
			case ch <- c:
			default:
				// A slow watcher must not stall writes: tell it to drop
				// everything it caches instead of losing this change.
				select {
				case <-ch:
				default:
				}
				select {
				case ch <- store.Change{Kind: store.ChangeAll}:
				default:
				}
			}
		}
	}
}

// op is one write request waiting for the writer.
type op struct {
	fn func(tx *wtx) error
	// act, if set instead of fn, is an activation: the writer decides it
	// together with the batch's other activations (activateGroup).
	act     *store.ActivateOp
	err     error
	changes []store.Change
	done    chan struct{}
}

// wtx is the writer's transaction as seen by one op.
type wtx struct {
	tx *sql.Tx
	s  *Store
	op *op
}

func (t *wtx) exec(name string, args ...any) (sql.Result, error) {
	return t.tx.Stmt(t.s.stmts[name]).Exec(args...)
}

func (t *wtx) queryRow(name string, args ...any) *sql.Row {
	return t.tx.Stmt(t.s.stmts[name]).QueryRow(args...)
}

func (t *wtx) notify(kind, id string) {
	t.op.changes = append(t.op.changes, store.Change{Kind: kind, ID: id})
}

// write queues fn and waits until its transaction committed (or failed).
// Once queued, the write is carried out even if ctx ends, so the caller
// always learns the outcome.
func (s *Store) write(ctx context.Context, fn func(tx *wtx) error) error {
	return s.enqueue(ctx, &op{fn: fn, done: make(chan struct{})})
}

func (s *Store) enqueue(ctx context.Context, o *op) error {
	if s.syncFailed.Load() {
		return errSyncFailed
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	select {
	case s.ops <- o:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	<-o.done
	return o.err
}

// awaitDurable waits until every transaction the writer committed so far
// is synced to disk: called after a read, it keeps a reader from answering
// with a commit that a power loss could still take back.
func (s *Store) awaitDurable() {
	target := s.committing.Load()
	for s.durable.Load() < target && !s.syncFailed.Load() {
		s.durableMu.Lock()
		ch := s.durableCh
		s.durableMu.Unlock()
		if s.durable.Load() >= target {
			return
		}
		<-ch
	}
}

// markDurable records that the commits up to seq are on disk.
func (s *Store) markDurable(seq int64) {
	s.durableMu.Lock()
	if seq > s.durable.Load() {
		s.durable.Store(seq)
	}
	close(s.durableCh)
	s.durableCh = make(chan struct{})
	s.durableMu.Unlock()
}

var errSyncFailed = fmt.Errorf("sqlite: %w: a sync of the write-ahead log failed; restart the server", store.ErrUnavailable)

// checkpointer copies the WAL into the database file in the background, so
// the writer never pays for checkpoints (its connection has automatic
// checkpoints off). A PASSIVE checkpoint never blocks the writer or readers.
func (s *Store) checkpointer() {
	defer close(s.ckDone)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
			var busy, logFrames, done int
			if err := s.ck.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done); err != nil {
				continue
			}
			// A WAL fully copied can start over from the beginning.
			if logFrames > 0 && done == logFrames && logFrames > 16384 {
				_, _ = s.ck.Exec("PRAGMA wal_checkpoint(RESTART)")
			}
		}
	}
}

func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*op, 0, s.maxBatch)
	for {
		var first *op
		select {
		case first = <-s.ops:
		case <-s.closing:
			// finish what is queued, then stop
			for {
				select {
				case o := <-s.ops:
					s.run([]*op{o})
				default:
					close(s.synced)
					return
				}
			}
		}
		batch = append(batch[:0], first)
		// Let the handlers that are ready hand in their requests first:
		// under load the groups grow (about 12 to 20 activations at 64
		// connections), so the commit's fixed costs are shared by more;
		// a lone request is not delayed, as nothing else is runnable.
		runtime.Gosched()
		runtime.Gosched()
	drain:
		for len(batch) < s.maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break drain
			}
		}
		s.run(batch)
	}
}

// syncBatch is a batch the writer is done with: its ops, and the number of
// transactions committed up to and including it.
type syncBatch struct {
	ops []*op
	seq int64
}

// syncer makes committed batches durable and only then acknowledges them.
// The writer connection commits without syncing (synchronous=NORMAL, which
// in WAL mode never corrupts, it only forgets the newest commits on power
// loss); one sync of the WAL file here covers every batch committed before
// it started, including those the writer committed during the previous
// sync. So a batch is acknowledged exactly as durably as with
// synchronous=FULL, and the writer never waits for the disk.
func (s *Store) syncer() {
	defer close(s.syncDone)
	for b := range s.synced {
		pending := []syncBatch{b}
	more:
		for {
			select {
			case b, ok := <-s.synced:
				if !ok {
					break more
				}
				pending = append(pending, b)
			default:
				break more
			}
		}
		err := s.syncWAL()
		s.markDurable(pending[len(pending)-1].seq)
		var changes []store.Change
		for _, b := range pending {
			for _, o := range b.ops {
				if err != nil && o.err == nil {
					o.err = err
				}
				if o.err == nil {
					changes = append(changes, o.changes...)
				}
				close(o.done)
			}
		}
		s.publish(changes)
	}
}

// syncWAL syncs the write-ahead log to disk. A failed sync leaves the file's
// state unknown, so it is final: every later write fails until a restart,
// whose recovery reads what really reached the disk.
func (s *Store) syncWAL() error {
	if s.syncErr != nil {
		return s.syncErr
	}
	path := s.walPath
	fi, err := os.Stat(path)
	if err == nil && (s.wal == nil || !os.SameFile(fi, s.walInfo)) {
		// First sync, or SQLite made a new log file (it removes the log
		// only after checkpointing it into the synced database file).
		if s.wal != nil {
			s.wal.Close()
		}
		s.wal, err = os.OpenFile(path, os.O_RDWR, 0)
		s.walInfo = fi
	}
	if err == nil {
		err = datasync(s.wal)
	}
	if err != nil {
		s.syncErr = fmt.Errorf("sqlite: sync %s: %w: %v", path, store.ErrUnavailable, err)
		s.syncFailed.Store(true)
		return s.syncErr
	}
	return nil
}

// maxCachedKeys bounds the writer's key cache (about 350 bytes a key, so
// some 23 MB at most).
const maxCachedKeys = 1 << 16

// keepStagedKeys makes the keys of a committed group of activations the
// writer's cache; forgetKeys empties it (any other write, or a failure,
// may have changed a key behind it).
func (s *Store) keepStagedKeys() {
	if len(s.keys)+len(s.keysStage) > maxCachedKeys {
		clear(s.keys)
	}
	if s.keys == nil {
		s.keys = map[string]store.BatchKey{}
	}
	for h, k := range s.keysStage {
		// As the database holds it: its own copy of the hash (a decision
		// may not keep it), and times at the database's precision.
		k.Key.Hash = bytes.Clone(k.Key.Hash)
		k.Key.NotAfter = store.FromMillis(store.Millis(k.Key.NotAfter))
		k.Key.BlockedAt = store.FromMillis(store.Millis(k.Key.BlockedAt))
		k.Key.CreatedAt = store.FromMillis(store.Millis(k.Key.CreatedAt))
		s.keys[h] = k
	}
	s.keysStage = nil
}

func (s *Store) forgetKeys() {
	clear(s.keys)
	s.keysStage = nil
}

func (s *Store) run(batch []*op) {
	// The cache outlives this batch only if it commits and holds nothing
	// but activations.
	onlyActivations := !slices.ContainsFunc(batch, func(o *op) bool { return o.act == nil })
	committed := false
	defer func() {
		if committed && onlyActivations {
			s.keepStagedKeys()
		} else {
			s.forgetKeys()
		}
	}()
	ctx := context.Background()
	finish := func(err error) {
		for _, o := range batch {
			if err != nil && o.err == nil {
				o.err = err
				o.changes = nil
			}
			close(o.done)
		}
	}
	if s.syncFailed.Load() {
		finish(errSyncFailed)
		return
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		finish(fmt.Errorf("sqlite: begin: %w", wrapErr(err)))
		return
	}
	// Only this writer changes keys, unless another process writes the
	// same file: then nothing cached can be trusted. (Its own commits
	// leave data_version as it is.)
	var version int64
	if err := tx.Stmt(s.stmts["dataVersion"]).QueryRow().Scan(&version); err != nil || version != s.dataVersion {
		clear(s.keys)
		s.dataVersion = version
	}
	single := len(batch) == 1
	var acts []*op
	for _, o := range batch {
		if o.act != nil {
			acts = append(acts, o)
		}
	}
	if len(acts) > 0 {
		if err := s.activateGroup(tx, acts); err != nil {
			_ = tx.Rollback()
			if single {
				finish(err)
				return
			}
			// Start over, each op in a transaction of its own.
			for _, o := range batch {
				o.err, o.changes = nil, nil
				s.run([]*op{o})
			}
			return
		}
	}
	for _, o := range batch {
		if o.act != nil {
			continue
		}
		t := &wtx{tx: tx, s: s, op: o}
		if single {
			o.err = o.fn(t)
			continue
		}
		if _, err := tx.Stmt(s.stmts["savepoint"]).Exec(); err != nil {
			o.err = fmt.Errorf("sqlite: savepoint: %w", err)
			continue
		}
		o.err = o.fn(t)
		if o.err != nil {
			o.changes = nil
			if _, err := tx.Stmt(s.stmts["rollbackTo"]).Exec(); err != nil {
				_ = tx.Rollback()
				finish(fmt.Errorf("sqlite: rollback to savepoint: %w", err))
				return
			}
		}
		if _, err := tx.Stmt(s.stmts["release"]).Exec(); err != nil {
			_ = tx.Rollback()
			finish(fmt.Errorf("sqlite: release savepoint: %w", err))
			return
		}
	}
	if single && batch[0].err != nil {
		// The refusal may rest on a commit not yet synced: answer it
		// after the next sync too.
		_ = tx.Rollback()
		s.synced <- syncBatch{ops: []*op{batch[0]}, seq: s.committing.Load()}
		return
	}
	seq := s.committing.Add(1)
	if err := tx.Commit(); err != nil {
		finish(fmt.Errorf("sqlite: commit: %w", wrapErr(err)))
		s.synced <- syncBatch{seq: seq} // readers may wait for this number
		return
	}
	committed = true
	// Acknowledge only after the WAL holding this commit is on disk; the
	// syncer does that while this goroutine starts the next batch.
	s.synced <- syncBatch{ops: slices.Clone(batch), seq: seq}
}

func wrapErr(err error) error {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3lib.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%w: %v", store.ErrExists, err)
		case sqlite3lib.SQLITE_FULL, sqlite3lib.SQLITE_IOERR, sqlite3lib.SQLITE_CANTOPEN, sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED:
			return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		}
		if se.Code()&0xff == sqlite3lib.SQLITE_IOERR || se.Code()&0xff == sqlite3lib.SQLITE_BUSY {
			return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

var statements = map[string]string{
	"savepoint":      `SAVEPOINT op`,
	"dataVersion":    `PRAGMA data_version`,
	"rollbackTo":     `ROLLBACK TO op`,
	"release":        `RELEASE op`,
	"insertAudit":    `INSERT INTO audit_log (at, actor, action, target, detail, request_id) VALUES (?, ?, ?, ?, ?, ?)`,
	"keyForUpdate":   `SELECT hash, sku_id, last_group, blocked, block_reason, blocked_at, created_at, active_activations, activations, not_after FROM product_keys WHERE hash = ?`,
	"insertKeys":     insertKeysSQL(keysPerStatement),
	"seatFreed":      `UPDATE product_keys SET active_activations = active_activations - 1 WHERE hash = ? AND active_activations > 0`,
	"activationByID": `SELECT ` + activationCols + ` FROM activations WHERE id = ?`,
	"endActivation":  `UPDATE activations SET status = ?, ended_at = ?, end_reason = ? WHERE id = ? AND status = 'active'`,
}

var readStatements = map[string]string{
	"key":            `SELECT hash, sku_id, last_group, blocked, block_reason, blocked_at, created_at, active_activations, activations, not_after FROM product_keys WHERE hash = ?`,
	"activationByID": `SELECT ` + activationCols + ` FROM activations WHERE id = ?`,
	"token":          `SELECT id, hash, role, description, created_at, revoked_at FROM tokens WHERE id = ?`,
	"sku":            `SELECT ` + skuCols + ` FROM skus WHERE id = ?`,
	"skuByGroup":     `SELECT ` + skuCols + ` FROM skus WHERE key_group = ?`,
	"product":        `SELECT id, name, hardware_salt, created_at FROM products WHERE id = ?`,
}

const activationCols = `id, key_hash, sku_id, product_id, last_group, profile, status, created_at, not_after, ended_at, end_reason, prior_id, anchors`
const skuCols = `id, product_id, edition, channel, policy, entitlements, key_group, next_serial, created_at`

func (s *Store) prepare(ctx context.Context) error {
	s.stmts = map[string]*sql.Stmt{}
	s.dyn = map[string]*sql.Stmt{}
	s.byAnchorStmts = map[int]*sql.Stmt{}
	for n := 1; n <= maxAnchors; n++ {
		byAnchor := `SELECT DISTINCT ` + prefixCols("a.", activationCols) + ` FROM activation_anchors x CROSS JOIN activations a
			WHERE x.product_id = ? AND x.anchor IN (?` + strings.Repeat(", ?", n-1) + `) AND a.id = x.activation_id AND a.status = 'active'
			ORDER BY a.created_at, a.id`
		st, err := s.r.PrepareContext(ctx, byAnchor)
		if err != nil {
			return fmt.Errorf("sqlite: prepare activations by anchors: %w", err)
		}
		s.byAnchorStmts[n] = st
	}
	for _, q := range groupStatements(s.maxBatch) {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		s.dyn[q] = st
	}
	for name, q := range statements {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %s: %w", name, err)
		}
		s.stmts[name] = st
	}
	s.rstmt = map[string]*sql.Stmt{}
	for name, q := range readStatements {
		st, err := s.r.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %s: %w", name, err)
		}
		s.rstmt[name] = st
	}
	return nil
}

func audit(t *wtx, a AuditEntry) error {
	detail := a.Detail
	if detail == "" {
		detail = "{}"
	}
	at := a.At
	if at.IsZero() {
		at = time.Now()
	}
	_, err := t.exec("insertAudit", store.Millis(at), a.Actor, a.Action, a.Target, detail, a.RequestID)
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// AuditEntry is an alias kept short for this file.
type AuditEntry = store.AuditEntry

// Bootstrap implements store.Store.
func (s *Store) Bootstrap(ctx context.Context, b store.Bootstrap) (bool, error) {
	created := false
	err := s.write(ctx, func(t *wtx) error {
		res, err := t.tx.Exec(`INSERT OR IGNORE INTO settings (name, value) VALUES ('initialized', ?)`, time.Now().UTC().Format(time.RFC3339))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		now := store.Millis(time.Now())
		for name, v := range b.Secrets {
			if _, err := t.tx.Exec(`INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?)`, name, v, now); err != nil {
				return wrapErr(err)
			}
		}
		for _, k := range b.SigningKeys {
			if err := insertSigningKey(t, k); err != nil {
				return err
			}
		}
		if b.Token.ID != "" {
			if err := insertToken(t, b.Token); err != nil {
				return err
			}
		}
		if err := audit(t, b.Audit); err != nil {
			return err
		}
		created = true
		return nil
	})
	return created, err
}

// Secret implements store.Store.
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	defer s.awaitDurable()
	var v []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, wrapErr(err))
	}
	return v, nil
}

// PutSecret implements store.Store.
func (s *Store) PutSecret(ctx context.Context, name string, value []byte) error {
	return s.write(ctx, func(t *wtx) error {
		_, err := t.tx.Exec(`INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?)`, name, value, store.Millis(time.Now()))
		if err != nil {
			return fmt.Errorf("put secret %s: %w", name, wrapErr(err))
		}
		return nil
	})
}

func insertSigningKey(t *wtx, k store.SigningKey) error {
	_, err := t.tx.Exec(`INSERT INTO signing_keys (id, role, public_key, private_key, certificate, created_at, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Role, k.PublicKey, k.PrivateKey, nonNil(k.Certificate), store.Millis(k.CreatedAt), store.Millis(k.RetiredAt))
	if err != nil {
		return fmt.Errorf("insert signing key %s: %w", k.ID, wrapErr(err))
	}
	t.notify(store.ChangeSigningKey, k.ID)
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// SigningKeys implements store.Store.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	defer s.awaitDurable()
	rows, err := s.r.QueryContext(ctx, `SELECT id, role, public_key, private_key, certificate, created_at, retired_at FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", wrapErr(err))
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var created, retired int64
		if err := rows.Scan(&k.ID, &k.Role, &k.PublicKey, &k.PrivateKey, &k.Certificate, &created, &retired); err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
		k.CreatedAt, k.RetiredAt = store.FromMillis(created), store.FromMillis(retired)
		out = append(out, k)
	}
	return out, rows.Err()
}

// RotateSigningKey implements store.Store.
func (s *Store) RotateSigningKey(ctx context.Context, k store.SigningKey, a store.AuditEntry) error {
	return s.write(ctx, func(t *wtx) error {
		if _, err := t.tx.Exec(`UPDATE signing_keys SET retired_at = ? WHERE role = 'signing' AND retired_at = 0`, store.Millis(k.CreatedAt)); err != nil {
			return fmt.Errorf("retire signing keys: %w", wrapErr(err))
		}
		if err := insertSigningKey(t, k); err != nil {
			return err
		}
		return audit(t, a)
	})
}

func insertToken(t *wtx, tok store.Token) error {
	_, err := t.tx.Exec(`INSERT INTO tokens (id, hash, role, description, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, 0)`,
		tok.ID, tok.Hash, tok.Role, tok.Description, store.Millis(tok.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert token %s: %w", tok.ID, wrapErr(err))
	}
	return nil
}

// CreateToken implements store.Store.
func (s *Store) CreateToken(ctx context.Context, tok store.Token, a store.AuditEntry) error {
	return s.write(ctx, func(t *wtx) error {
		if err := insertToken(t, tok); err != nil {
			return err
		}
		return audit(t, a)
	})
}

func scanToken(sc interface{ Scan(...any) error }) (store.Token, error) {
	var tok store.Token
	var created, revoked int64
	err := sc.Scan(&tok.ID, &tok.Hash, &tok.Role, &tok.Description, &created, &revoked)
	tok.CreatedAt, tok.RevokedAt = store.FromMillis(created), store.FromMillis(revoked)
	return tok, err
}

// Token implements store.Store.
func (s *Store) Token(ctx context.Context, id string) (store.Token, error) {
	defer s.awaitDurable()
	tok, err := scanToken(s.rstmt["token"].QueryRowContext(ctx, id))
	if err != nil {
		return store.Token{}, fmt.Errorf("token %s: %w", id, wrapErr(err))
	}
	return tok, nil
}

// Tokens implements store.Store.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	defer s.awaitDurable()
	rows, err := s.r.QueryContext(ctx, `SELECT id, hash, role, description, created_at, revoked_at FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", wrapErr(err))
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		tok, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		out = append(out, tok)
	}
	return out, rows.Err()
}

// RevokeToken implements store.Store.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time, a store.AuditEntry) (store.Token, error) {
	var tok store.Token
	err := s.write(ctx, func(t *wtx) error {
		res, err := t.tx.Exec(`UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, store.Millis(at), id)
		if err != nil {
			return wrapErr(err)
		}
		n, _ := res.RowsAffected()
		tok, err = scanToken(t.tx.QueryRow(`SELECT id, hash, role, description, created_at, revoked_at FROM tokens WHERE id = ?`, id))
		if err != nil {
			return fmt.Errorf("revoke token %s: %w", id, wrapErr(err))
		}
		if n == 0 {
			return nil // already revoked: idempotent, no audit entry
		}
		if tok.Role == "admin" {
			var left int
			if err := t.tx.QueryRow(`SELECT count(*) FROM tokens WHERE role = 'admin' AND revoked_at = 0`).Scan(&left); err != nil {
				return wrapErr(err)
			}
			if left == 0 {
				return store.ErrLastAdmin
			}
		}
		t.notify(store.ChangeToken, id)
		return audit(t, a)
	})
	return tok, err
}

// CreateProduct implements store.Store.
func (s *Store) CreateProduct(ctx context.Context, p store.Product, a store.AuditEntry) error {
	return s.write(ctx, func(t *wtx) error {
		_, err := t.tx.Exec(`INSERT INTO products (id, name, hardware_salt, created_at) VALUES (?, ?, ?, ?)`, p.ID, p.Name, p.HardwareSalt, store.Millis(p.CreatedAt))
		if err != nil {
			return fmt.Errorf("create product %s: %w", p.ID, wrapErr(err))
		}
		t.notify(store.ChangeProduct, p.ID)
		return audit(t, a)
	})
}

func scanProduct(sc interface{ Scan(...any) error }) (store.Product, error) {
	var p store.Product
	var created int64
	err := sc.Scan(&p.ID, &p.Name, &p.HardwareSalt, &created)
	p.CreatedAt = store.FromMillis(created)
	return p, err
}

// Product implements store.Store.
func (s *Store) Product(ctx context.Context, id string) (store.Product, error) {
	defer s.awaitDurable()
	p, err := scanProduct(s.rstmt["product"].QueryRowContext(ctx, id))
	if err != nil {
		return store.Product{}, fmt.Errorf("product %s: %w", id, wrapErr(err))
	}
	return p, nil
}

// Products implements store.Store.
func (s *Store) Products(ctx context.Context) ([]store.Product, error) {
	defer s.awaitDurable()
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, hardware_salt, created_at FROM products ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("products: %w", wrapErr(err))
	}
	defer rows.Close()
	var out []store.Product
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("products: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// CreateSKU implements store.Store.
func (s *Store) CreateSKU(ctx context.Context, sku store.SKU, a store.AuditEntry) (store.SKU, error) {
	policy, _ := json.Marshal(sku.Policy)
	ents := sku.Entitlements
	if ents == nil {
		ents = []string{}
	}
	entJSON, _ := json.Marshal(ents)
	err := s.write(ctx, func(t *wtx) error {
		var exists int
		if err := t.tx.QueryRow(`SELECT count(*) FROM products WHERE id = ?`, sku.ProductID).Scan(&exists); err != nil {
			return wrapErr(err)
		}
		if exists == 0 {
			return fmt.Errorf("create sku %s: product %s: %w", sku.ID, sku.ProductID, store.ErrNotFound)
		}
		var group int64
		if err := t.tx.QueryRow(`SELECT coalesce(max(key_group), 0) + 1 FROM skus`).Scan(&group); err != nil {
			return wrapErr(err)
		}
		if group > 0xffff {
			return fmt.Errorf("create sku %s: no key group left: %w", sku.ID, store.ErrExhausted)
		}
		_, err := t.tx.Exec(`INSERT INTO skus (id, product_id, edition, channel, policy, entitlements, key_group, next_serial, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)`,
			sku.ID, sku.ProductID, sku.Edition, sku.Channel, string(policy), string(entJSON), group, store.Millis(sku.CreatedAt))
		if err != nil {
			return fmt.Errorf("create sku %s: %w", sku.ID, wrapErr(err))
		}
		sku.Group = uint16(group)
		sku.Entitlements = ents
		t.notify(store.ChangeSKU, sku.ID)
		return audit(t, a)
	})
	if err != nil {
		return store.SKU{}, err
	}
	return sku, nil
}

func scanSKU(sc interface{ Scan(...any) error }) (store.SKU, error) {
	var k store.SKU
	var policy, ents string
	var group, next, created int64
	if err := sc.Scan(&k.ID, &k.ProductID, &k.Edition, &k.Channel, &policy, &ents, &group, &next, &created); err != nil {
		return k, err
	}
	if err := json.Unmarshal([]byte(policy), &k.Policy); err != nil {
		return k, fmt.Errorf("sku %s policy: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(ents), &k.Entitlements); err != nil {
		return k, fmt.Errorf("sku %s entitlements: %w", k.ID, err)
	}
	k.Group, k.NextSerial, k.CreatedAt = uint16(group), uint32(next), store.FromMillis(created)
	return k, nil
}

// SKU implements store.Store.
func (s *Store) SKU(ctx context.Context, id string) (store.SKU, error) {
	defer s.awaitDurable()
	k, err := scanSKU(s.rstmt["sku"].QueryRowContext(ctx, id))
	if err != nil {
		return store.SKU{}, fmt.Errorf("sku %s: %w", id, wrapErr(err))
	}
	return k, nil
}

// SKUByGroup implements store.Store.
func (s *Store) SKUByGroup(ctx context.Context, group uint16) (store.SKU, error) {
	defer s.awaitDurable()
	k, err := scanSKU(s.rstmt["skuByGroup"].QueryRowContext(ctx, int64(group)))
	if err != nil {
		return store.SKU{}, fmt.Errorf("sku group %d: %w", group, wrapErr(err))
	}
	return k, nil
}

// SKUs implements store.Store.
func (s *Store) SKUs(ctx context.Context) ([]store.SKU, error) {
	defer s.awaitDurable()
	rows, err := s.r.QueryContext(ctx, `SELECT `+skuCols+` FROM skus ORDER BY product_id, id`)
	if err != nil {
		return nil, fmt.Errorf("skus: %w", wrapErr(err))
	}
	defer rows.Close()
	var out []store.SKU
	for rows.Next() {
		k, err := scanSKU(rows)
		if err != nil {
			return nil, fmt.Errorf("skus: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ReserveSerials implements store.Store.
func (s *Store) ReserveSerials(ctx context.Context, skuID string, n int, max uint32) (uint32, error) {
	if n <= 0 {
		return 0, fmt.Errorf("reserve serials: n = %d", n)
	}
	var first int64
	err := s.write(ctx, func(t *wtx) error {
		err := t.tx.QueryRow(`SELECT next_serial FROM skus WHERE id = ?`, skuID).Scan(&first)
		if err != nil {
			return fmt.Errorf("reserve serials for %s: %w", skuID, wrapErr(err))
		}
		if first+int64(n)-1 > int64(max) {
			return fmt.Errorf("reserve %d serials for %s: %w", n, skuID, store.ErrExhausted)
		}
		_, err = t.tx.Exec(`UPDATE skus SET next_serial = ? WHERE id = ?`, first+int64(n), skuID)
		return wrapErr(err)
	})
	return uint32(first), err
}

// InsertKeys implements store.Store. Rows go in multi-row statements of
// keysPerStatement rows: far fewer statement executions than one per key.
func (s *Store) InsertKeys(ctx context.Context, keys []store.Key, a store.AuditEntry) error {
	return s.write(ctx, func(t *wtx) error {
		for len(keys) > 0 {
			n := min(len(keys), keysPerStatement)
			st := s.stmts["insertKeys"]
			if n < keysPerStatement {
				var err error
				if st, err = t.tx.Prepare(insertKeysSQL(n)); err != nil {
					return fmt.Errorf("insert keys: %w", err)
				}
				defer st.Close()
			} else {
				st = t.tx.Stmt(st)
			}
			args := make([]any, 0, 4*n)
			for _, k := range keys[:n] {
				args = append(args, k.Hash, k.SKUID, k.LastGroup, store.Millis(k.CreatedAt))
			}
			if _, err := st.Exec(args...); err != nil {
				return fmt.Errorf("insert keys: %w", wrapErr(err))
			}
			keys = keys[n:]
		}
		return audit(t, a)
	})
}

const keysPerStatement = 250

func insertKeysSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO product_keys (hash, sku_id, last_group, created_at) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?)")
	}
	return b.String()
}

func scanKey(sc interface{ Scan(...any) error }) (store.Key, error) {
	var k store.Key
	var blocked int
	var blockedAt, created, notAfter int64
	err := sc.Scan(&k.Hash, &k.SKUID, &k.LastGroup, &blocked, &k.BlockReason, &blockedAt, &created, &k.ActiveActivations, &k.Activations, &notAfter)
	k.Blocked = blocked != 0
	k.NotAfter = store.FromMillis(notAfter)
	k.BlockedAt, k.CreatedAt = store.FromMillis(blockedAt), store.FromMillis(created)
	return k, err
}

// Key implements store.Store.
func (s *Store) Key(ctx context.Context, hash []byte) (store.Key, error) {
	defer s.awaitDurable()
	k, err := scanKey(s.rstmt["key"].QueryRowContext(ctx, hash))
	if err != nil {
		return store.Key{}, fmt.Errorf("key: %w", wrapErr(err))
	}
	return k, nil
}

// SetKeyBlocked implements store.Store.
func (s *Store) SetKeyBlocked(ctx context.Context, hash []byte, blocked bool, reason string, at time.Time, a store.AuditEntry) (store.Key, error) {
	var k store.Key
	err := s.write(ctx, func(t *wtx) error {
		var err error
		b, ms := 0, int64(0)
		if blocked {
			b, ms = 1, store.Millis(at)
		} else {
			reason = ""
		}
		res, err := t.tx.Exec(`UPDATE product_keys SET blocked = ?, block_reason = ?, blocked_at = ? WHERE hash = ?`, b, reason, ms, hash)
		if err != nil {
			return wrapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("block key: %w", store.ErrNotFound)
		}
		k, err = scanKey(t.queryRow("keyForUpdate", hash))
		if err != nil {
			return wrapErr(err)
		}
		t.notify(store.ChangeKey, hex.EncodeToString(hash))
		return audit(t, a)
	})
	return k, err
}

// AppendAudit implements store.Store.
func (s *Store) AppendAudit(ctx context.Context, a store.AuditEntry) error {
	return s.write(ctx, func(t *wtx) error { return audit(t, a) })
}

// Audit implements store.Store.
func (s *Store) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	defer s.awaitDurable()
	if q.Limit <= 0 {
		q.Limit = 100
	}
	query := `SELECT seq, at, actor, action, target, detail, request_id FROM audit_log WHERE seq > ?`
	args := []any{q.AfterSeq}
	if q.Action != "" {
		query += ` AND action = ?`
		args = append(args, q.Action)
	}
	query += ` ORDER BY seq LIMIT ?`
	args = append(args, q.Limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", wrapErr(err))
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.RequestID); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		e.At = store.FromMillis(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanActivation(sc interface{ Scan(...any) error }) (store.Activation, error) {
	var a store.Activation
	var created, notAfter, ended int64
	var anchors []byte
	err := sc.Scan(&a.ID, &a.KeyHash, &a.SKUID, &a.ProductID, &a.LastGroup, &a.Profile, &a.Status, &created, &notAfter, &ended, &a.EndReason, &a.PriorID, &anchors)
	if err != nil {
		return a, err
	}
	a.CreatedAt, a.NotAfter, a.EndedAt = store.FromMillis(created), store.FromMillis(notAfter), store.FromMillis(ended)
	if a.Anchors, err = store.UnpackAnchors(anchors); err != nil {
		return a, fmt.Errorf("activation %s: %w", a.ID, err)
	}
	return a, nil
}

func collectActivations(rows *sql.Rows, err error) ([]store.Activation, error) {
	if err != nil {
		return nil, wrapErr(err)
	}
	defer rows.Close()
	var out []store.Activation
	for rows.Next() {
		a, err := scanActivation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Activate implements store.Store. The writer decides the activations
// waiting for it together (activateGroup), a lone one as a group of one.
func (s *Store) Activate(ctx context.Context, keyHash []byte, anchors [][]byte, decide store.DecideFunc) (store.Activation, bool, error) {
	act := &store.ActivateOp{KeyHash: keyHash, Anchors: anchors, Decide: decide}
	if err := s.enqueue(ctx, &op{act: act, done: make(chan struct{})}); err != nil {
		return store.Activation{}, false, err
	}
	return act.Result, act.Created, nil
}

// activateGroup decides the batch's activations together: one statement
// reads their keys, one per product reads the stored activations sharing an
// anchor with any of them, store.DecideBatch decides them in order in
// memory, and a few multi-row statements write the result. Per-request
// errors (a blocked key, a full key) land in the op; an error of the
// statements themselves is returned, and the caller runs every op alone.
func (s *Store) activateGroup(tx *sql.Tx, acts []*op) error {
	ops := make([]*store.ActivateOp, len(acts))
	var hashes []any
	seen := map[string]bool{}
	for i, o := range acts {
		ops[i] = o.act
		if len(o.act.Anchors) > maxAnchors {
			return fmt.Errorf("activate: %d anchors, at most %d", len(o.act.Anchors), maxAnchors)
		}
		if !seen[string(o.act.KeyHash)] {
			seen[string(o.act.KeyHash)] = true
			hashes = append(hashes, o.act.KeyHash)
		}
	}
	keys := map[string]store.BatchKey{}
	missing := hashes[:0]
	for _, h := range hashes {
		if bk, ok := s.keys[string(h.([]byte))]; ok {
			keys[string(h.([]byte))] = bk
		} else {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		rows, err := s.dynQuery(tx, groupKeysSQL, missing)
		if err != nil {
			return fmt.Errorf("activate: keys: %w", err)
		}
		for rows.Next() {
			var bk store.BatchKey
			if bk.Key, err = scanKey(extraScan{rows, []any{&bk.ProductID}}); err != nil {
				rows.Close()
				return fmt.Errorf("activate: keys: %w", err)
			}
			keys[string(bk.Key.Hash)] = bk
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("activate: keys: %w", err)
		}
	}
	anchors := map[string][]any{}
	var products []string
	seen = map[string]bool{}
	for _, o := range ops {
		bk, ok := keys[string(o.KeyHash)]
		if !ok {
			continue
		}
		if _, ok := anchors[bk.ProductID]; !ok {
			products = append(products, bk.ProductID)
			anchors[bk.ProductID] = nil // listed once, even without anchors
		}
		for _, a := range o.Anchors {
			if k := bk.ProductID + "\x00" + string(a); !seen[k] {
				seen[k] = true
				anchors[bk.ProductID] = append(anchors[bk.ProductID], a)
			}
		}
	}
	var hits []store.AnchorHit
	for _, p := range products {
		if len(anchors[p]) == 0 {
			continue
		}
		rows, err := s.dynQuery(tx, groupCandidatesSQL, anchors[p], p)
		if err != nil {
			return fmt.Errorf("activate: candidates: %w", err)
		}
		for rows.Next() {
			h := store.AnchorHit{ProductID: p}
			if h.Activation, err = scanActivation(extraScan{rows, []any{&h.Anchor}}); err != nil {
				rows.Close()
				return fmt.Errorf("activate: candidates: %w", err)
			}
			hits = append(hits, h)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("activate: candidates: %w", err)
		}
	}

	news, changed, released := store.DecideBatch(ops, keys, hits)
	// The keys as this group leaves them (DecideBatch updated the map),
	// the cache's once the group commits (run).
	s.keysStage = keys
	var actRows, anchorRows [][]any
	for _, n := range news {
		packed, err := store.PackAnchors(n.Anchors)
		if err != nil {
			return fmt.Errorf("activate: %w", err)
		}
		actRows = append(actRows, []any{n.ID, n.KeyHash, n.SKUID, n.ProductID, n.LastGroup, n.Profile, n.Status, store.Millis(n.CreatedAt), store.Millis(n.NotAfter), n.PriorID, packed})
		for _, a := range n.Anchors {
			anchorRows = append(anchorRows, []any{n.ProductID, a, n.ID})
		}
	}
	if err := s.insertRows(tx, groupInsertActivations, actRows); err != nil {
		return fmt.Errorf("activate: insert: %w", wrapErr(err))
	}
	if err := s.insertRows(tx, groupInsertAnchors, anchorRows); err != nil {
		return fmt.Errorf("activate: anchors: %w", wrapErr(err))
	}
	seatRows := make([][]any, len(changed))
	for i, k := range changed {
		seatRows[i] = []any{k.Hash, k.ActiveActivations, k.Activations, store.Millis(k.NotAfter)}
	}
	if err := s.execRows(tx, groupSetSeats, groupSetSeatsWhere, seatRows); err != nil {
		return fmt.Errorf("activate: seats: %w", wrapErr(err))
	}
	for _, r := range released {
		res, err := tx.Stmt(s.stmts["endActivation"]).Exec(store.StatusDeactivated, store.Millis(r.At), store.EndReasonHardwareChanged, r.ID)
		if err != nil {
			return fmt.Errorf("activate: release %s: %w", r.ID, wrapErr(err))
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("activate: release %s: %d rows, %v", r.ID, n, err)
		}
	}
	for i, o := range acts {
		o.err, o.changes = ops[i].Err, nil
		if ops[i].Created {
			o.changes = []store.Change{{Kind: store.ChangeKey, ID: hex.EncodeToString(ops[i].KeyHash)}}
		}
		if ops[i].Released != "" {
			o.changes = append(o.changes, store.Change{Kind: store.ChangeActivation, ID: ops[i].Released})
		}
	}
	return nil
}

// extraScan scans a row whose last columns go to extra.
type extraScan struct {
	sc    interface{ Scan(...any) error }
	extra []any
}

func (e extraScan) Scan(dest ...any) error { return e.sc.Scan(append(dest, e.extra...)...) }

// The statements of activateGroup. The IN lists and multi-row inserts come
// in a few sizes, all prepared when the store opens: the writer's one
// connection is busy with the transaction whenever they are used.
var (
	groupKeysSQL = `SELECT k.hash, k.sku_id, k.last_group, k.blocked, k.block_reason, k.blocked_at, k.created_at, k.active_activations, k.activations, k.not_after, s.product_id
		FROM product_keys k JOIN skus s ON s.id = k.sku_id WHERE k.hash IN (%s)`
	groupCandidatesSQL = `SELECT ` + prefixCols("a.", activationCols) + `, x.anchor FROM activation_anchors x CROSS JOIN activations a
		WHERE x.product_id = ? AND x.anchor IN (%s) AND a.id = x.activation_id AND a.status = 'active'`
	// OR ROLLBACK: a constraint failure ends the whole transaction (the
	// writer then runs each request alone, see run), so SQLite keeps no
	// statement journal to undo one statement: with OR ABORT, the default,
	// every page these multi-row statements touch was first copied there
	// (about 8% of the writer's time in an activation storm).
	groupInsertActivations = `INSERT OR ROLLBACK INTO activations (id, key_hash, sku_id, product_id, last_group, profile, status, created_at, not_after, prior_id, anchors) VALUES `
	groupInsertAnchors     = `INSERT OR IGNORE INTO activation_anchors (product_id, anchor, activation_id) VALUES `
	// The keys' new seat counters, one statement for many keys.
	groupSetSeats      = `UPDATE OR ROLLBACK product_keys SET active_activations = v.column2, activations = v.column3, not_after = v.column4 FROM (VALUES `
	groupSetSeatsWhere = `) AS v WHERE product_keys.hash = v.column1`
	insertChunks       = []int{64, 16, 4, 1}
)

// groupStatements lists every statement activateGroup may use for batches
// of up to maxBatch requests.
func groupStatements(maxBatch int) []string {
	var out []string
	for n := 1; ; n *= 2 {
		out = append(out, inList(groupKeysSQL, n))
		if n >= maxBatch {
			break
		}
	}
	for n := 1; ; n *= 2 {
		out = append(out, inList(groupCandidatesSQL, n))
		if n >= maxBatch*maxAnchors {
			break
		}
	}
	for _, n := range insertChunks {
		out = append(out, multiRow(groupInsertActivations, 11, n), multiRow(groupInsertAnchors, 3, n), multiRow(groupSetSeats, 4, n)+groupSetSeatsWhere)
	}
	return out
}

func inList(q string, n int) string { return fmt.Sprintf(q, "?"+strings.Repeat(", ?", n-1)) }

func multiRow(prefix string, cols, rows int) string {
	tuple := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return prefix + tuple + strings.Repeat(", "+tuple, rows-1)
}

// dynStmt returns the prepared statement q, in tx.
func (s *Store) dynStmt(tx *sql.Tx, q string) (*sql.Stmt, error) {
	st, ok := s.dyn[q]
	if !ok {
		return nil, fmt.Errorf("sqlite: statement not prepared: %.60s", q)
	}
	return tx.Stmt(st), nil
}

// dynQuery runs q with its %s replaced by an IN list for list; the
// arguments are leading, then the list. The list's length is rounded up to
// a power of two, repeating its first value, so that a few prepared
// statements serve every batch.
func (s *Store) dynQuery(tx *sql.Tx, q string, list []any, leading ...any) (*sql.Rows, error) {
	n := 1
	for n < len(list) {
		n *= 2
	}
	args := make([]any, 0, len(leading)+n)
	args = append(args, leading...)
	args = append(args, list...)
	for range n - len(list) {
		args = append(args, list[0])
	}
	st, err := s.dynStmt(tx, inList(q, n))
	if err != nil {
		return nil, err
	}
	return st.Query(args...)
}

// insertRows inserts rows with multi-row statements of insertChunks rows.
func (s *Store) insertRows(tx *sql.Tx, prefix string, rows [][]any) error {
	return s.execRows(tx, prefix, "", rows)
}

// execRows runs prefix + a VALUES list of rows + suffix, in prepared
// chunks of insertChunks rows.
func (s *Store) execRows(tx *sql.Tx, prefix, suffix string, rows [][]any) error {
	for len(rows) > 0 {
		n := 1
		for _, c := range insertChunks {
			if len(rows) >= c {
				n = c
				break
			}
		}
		st, err := s.dynStmt(tx, multiRow(prefix, len(rows[0]), n)+suffix)
		if err != nil {
			return err
		}
		args := make([]any, 0, n*len(rows[0]))
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if _, err := st.Exec(args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// maxAnchors bounds the anchors of one activation request
// (hardware.LookupAnchors).
const maxAnchors = hardware.MaxAnchors

// Activation implements store.Store.
func (s *Store) Activation(ctx context.Context, id string) (store.Activation, error) {
	defer s.awaitDurable()
	a, err := scanActivation(s.rstmt["activationByID"].QueryRowContext(ctx, id))
	if err != nil {
		return store.Activation{}, fmt.Errorf("activation %s: %w", id, wrapErr(err))
	}
	return a, nil
}

// ActivationsByKey implements store.Store.
func (s *Store) ActivationsByKey(ctx context.Context, keyHash []byte) ([]store.Activation, error) {
	defer s.awaitDurable()
	out, err := collectActivations(s.r.QueryContext(ctx, `SELECT `+activationCols+` FROM activations WHERE key_hash = ? ORDER BY created_at, id`, keyHash))
	if err != nil {
		return nil, fmt.Errorf("activations by key: %w", err)
	}
	return out, nil
}

// ActivationsByAnchors implements store.Store.
func (s *Store) ActivationsByAnchors(ctx context.Context, productID string, anchors [][]byte) ([]store.Activation, error) {
	defer s.awaitDurable()
	if len(anchors) == 0 {
		return nil, nil
	}
	st, ok := s.byAnchorStmts[len(anchors)]
	if !ok {
		return nil, fmt.Errorf("activations by anchors: %d anchors, at most %d", len(anchors), maxAnchors)
	}
	args := make([]any, 0, len(anchors)+1)
	args = append(args, productID)
	for _, an := range anchors {
		args = append(args, an)
	}
	out, err := collectActivations(st.QueryContext(ctx, args...))
	if err != nil {
		return nil, fmt.Errorf("activations by anchors: %w", err)
	}
	return out, nil
}

func prefixCols(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// EndActivation implements store.Store.
func (s *Store) EndActivation(ctx context.Context, id, status, reason string, at time.Time, check func(store.Activation) error, a *store.AuditEntry) (store.Activation, error) {
	if status != store.StatusDeactivated && status != store.StatusRevoked {
		return store.Activation{}, fmt.Errorf("end activation: bad status %q", status)
	}
	var out store.Activation
	err := s.write(ctx, func(t *wtx) error {
		act, err := scanActivation(t.queryRow("activationByID", id))
		if err != nil {
			return fmt.Errorf("end activation %s: %w", id, wrapErr(err))
		}
		if check != nil {
			if err := check(act); err != nil {
				return err
			}
		}
		if act.Status != store.StatusActive {
			out = act
			return nil
		}
		if _, err := t.exec("endActivation", status, store.Millis(at), reason, id); err != nil {
			return fmt.Errorf("end activation %s: %w", id, wrapErr(err))
		}
		if _, err := t.exec("seatFreed", act.KeyHash); err != nil {
			return fmt.Errorf("end activation %s: %w", id, wrapErr(err))
		}
		act.Status, act.EndedAt, act.EndReason = status, at.UTC().Truncate(time.Millisecond), reason
		out = act
		t.notify(store.ChangeActivation, id)
		t.notify(store.ChangeKey, hex.EncodeToString(act.KeyHash))
		if a != nil {
			return audit(t, *a)
		}
		return nil
	})
	return out, err
}

// ExpireActivations implements store.Store. One SQLite file has one node,
// so no lock is needed: the writer runs one transaction at a time.
func (s *Store) ExpireActivations(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("expire activations: limit = %d", limit)
	}
	at := store.Millis(now)
	var n int
	err := s.write(ctx, func(t *wtx) error {
		n = 0
		rows, err := t.tx.Query(`SELECT id, key_hash FROM activations
			WHERE status = 'active' AND not_after > 0 AND not_after <= ?
			ORDER BY not_after, id LIMIT ?`, at, limit)
		if err != nil {
			return fmt.Errorf("expire activations: %w", wrapErr(err))
		}
		type due struct {
			id  string
			key []byte
		}
		var list []due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.id, &d.key); err != nil {
				rows.Close()
				return fmt.Errorf("expire activations: %w", err)
			}
			list = append(list, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("expire activations: %w", wrapErr(err))
		}
		keys := map[string]bool{}
		for _, d := range list {
			if _, err := t.exec("endActivation", store.StatusDeactivated, at, store.EndReasonExpired, d.id); err != nil {
				return fmt.Errorf("expire activation %s: %w", d.id, wrapErr(err))
			}
			if _, err := t.exec("seatFreed", d.key); err != nil {
				return fmt.Errorf("expire activation %s: %w", d.id, wrapErr(err))
			}
			t.notify(store.ChangeActivation, d.id)
			if k := hex.EncodeToString(d.key); !keys[k] {
				keys[k] = true
				t.notify(store.ChangeKey, k)
			}
		}
		n = len(list)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// RecordFeedback implements store.Store.
func (s *Store) RecordFeedback(ctx context.Context, page, lang string, helpful bool) error {
	yes, no := 0, 1
	if helpful {
		yes, no = 1, 0
	}
	return s.write(ctx, func(t *wtx) error {
		_, err := t.tx.Exec(`INSERT INTO help_feedback (page, lang, yes, no) VALUES (?, ?, ?, ?)
			ON CONFLICT (page, lang) DO UPDATE SET yes = yes + excluded.yes, no = no + excluded.no`, page, lang, yes, no)
		if err != nil {
			return fmt.Errorf("record feedback: %w", wrapErr(err))
		}
		return nil
	})
}

// Feedback implements store.Store.
func (s *Store) Feedback(ctx context.Context) ([]store.FeedbackCount, error) {
	defer s.awaitDurable()
	rows, err := s.r.QueryContext(ctx, `SELECT page, lang, yes, no FROM help_feedback ORDER BY page, lang`)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", wrapErr(err))
	}
	defer rows.Close()
	var out []store.FeedbackCount
	for rows.Next() {
		var f store.FeedbackCount
		if err := rows.Scan(&f.Page, &f.Lang, &f.Yes, &f.No); err != nil {
			return nil, fmt.Errorf("feedback: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
