package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/echt-dev/echt/internal/store"
)

// changesChannel is the LISTEN/NOTIFY channel of committed changes.
const changesChannel = "echt_changes"

// maxAttempts bounds how often a batch runs when PostgreSQL keeps rolling
// it back to break deadlocks.
const maxAttempts = 5

// op is one write request waiting for a writer.
type op struct {
	// lockKey is the key row the request locks first, if known; a batch
	// runs such requests in key order.
	lockKey []byte
	// fn does the work. It may run more than once (the batch is retried),
	// so it must set all its results on every run.
	fn func(t *wtx) error
	// act, if set, is an activation the writer may decide together with
	// the batch's other activations (activateGroup); fn is the same
	// request alone.
	act *store.ActivateOp
	// deadline is the request's (zero if none): the transaction carrying
	// the op gives up once every op in it is past its deadline, so a
	// request stuck behind a lock is answered about in its time, and
	// nothing commits after it was told the store was unavailable.
	deadline time.Time
	err      error
	changes  []string           // pg_notify payloads
	audit    []store.AuditEntry // appended when the batch commits
	done     chan struct{}
}

// wtx is a writer's transaction as seen by one op.
type wtx struct {
	ctx context.Context
	tx  pgx.Tx
	op  *op
}

func (t *wtx) exec(sql string, args ...any) (pgconn.CommandTag, error) {
	return t.tx.Exec(t.ctx, sql, args...)
}

func (t *wtx) queryRow(sql string, args ...any) pgx.Row {
	return t.tx.QueryRow(t.ctx, sql, args...)
}

// notify publishes a change when (and if) the op's transaction commits.
func (t *wtx) notify(kind, id string) {
	t.op.changes = append(t.op.changes, kind+":"+id)
}

// audit appends a to the audit log, in the op's transaction. Entries of a
// batch are inserted together just before the commit, under an advisory
// lock held until the commit, so that sequence numbers become visible in
// order: a reader paging by AfterSeq never skips an entry that commits late.
// Taking that lock last, when the batch waits for nothing else, keeps it out
// of deadlocks.
func (t *wtx) audit(a store.AuditEntry) {
	if a.Detail == "" {
		a.Detail = "{}"
	}
	if a.At.IsZero() {
		a.At = time.Now()
	}
	t.op.audit = append(t.op.audit, a)
}

// write queues fn and waits until its transaction committed (or failed).
// Once queued, the write is carried out even if ctx ends, so the caller
// always learns the outcome.
func (s *Store) write(ctx context.Context, lockKey []byte, fn func(t *wtx) error) error {
	return s.enqueue(ctx, &op{lockKey: lockKey, fn: fn, done: make(chan struct{})})
}

// errRunAlone asks the caller of runOnce to run each op of the batch in a
// transaction of its own.
var errRunAlone = errors.New("postgres: run the batch's ops one by one")

func (s *Store) enqueue(ctx context.Context, o *op) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	o.deadline, _ = ctx.Deadline()
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

// writer runs batches until the store closes, then finishes what is queued.
func (s *Store) writer() {
	defer s.writers.Done()
	batch := make([]*op, 0, s.cfg.MaxBatch)
	for {
		var first *op
		select {
		case first = <-s.ops:
		case <-s.closing:
			// Close holds off new requests; run the queued ones.
			select {
			case first = <-s.ops:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
	drain:
		for len(batch) < s.cfg.MaxBatch {
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

// minWriteTime is the least time left for a request to be written.
const minWriteTime = 50 * time.Millisecond

// errTimedOut answers a request whose time ran out before its batch
// could start.
var errTimedOut = fmt.Errorf("%w: the request's time ran out waiting for the database", store.ErrUnavailable)

// run carries out a batch and acknowledges every op in it.
func (s *Store) run(batch []*op) {
	// Requests whose time ran out in the queue (or as good as: too little
	// is left to do anything, and the batch's transaction would have to
	// end by then for all of them) are answered at once.
	now := time.Now()
	live := batch[:0]
	for _, o := range batch {
		if !o.deadline.IsZero() && o.deadline.Sub(now) < minWriteTime {
			o.err = errTimedOut
			close(o.done)
			continue
		}
		live = append(live, o)
	}
	if batch = live; len(batch) == 0 {
		return
	}
	// Lock key rows in one order in every batch, so that batches of
	// different writers and nodes do not wait for each other in a cycle.
	slices.SortStableFunc(batch, func(a, b *op) int {
		switch {
		case a.lockKey == nil && b.lockKey == nil:
			return 0
		case a.lockKey == nil:
			return 1
		case b.lockKey == nil:
			return -1
		}
		return bytes.Compare(a.lockKey, b.lockKey)
	})
	err := s.runRetrying(batch)
	if errors.Is(err, errRunAlone) {
		// The batch's activations failed on a data error: run every op
		// alone to find whose it is.
		for _, o := range batch {
			if err := s.runRetrying([]*op{o}); err != nil && o.err == nil {
				o.err = err
			}
		}
		err = nil
	}
	for _, o := range batch {
		if err != nil && o.err == nil {
			o.err = err
		}
		close(o.done)
	}
}

// runRetrying runs a batch, retrying deadlocks and serialization failures.
func (s *Store) runRetrying(batch []*op) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = s.runOnce(batch)
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return err
		}
		time.Sleep(time.Duration(attempt) * (5*time.Millisecond + rand.N(10*time.Millisecond)))
	}
}

// runOnce runs the batch in one transaction. It returns an error when the
// transaction did not commit; ops that failed on their own keep their error
// in op.err.
func (s *Store) runOnce(batch []*op) error {
	for _, o := range batch {
		o.err, o.changes, o.audit = nil, nil, nil
	}
	// The transaction ends when the last of its requests' time runs out
	// (or the store's own write timeout): a request stuck behind a lock is
	// answered about when its time is up, and one request near its end
	// does not cut the others' transaction short.
	limit := time.Now().Add(s.cfg.WriteTimeout)
	var deadline time.Time
	for _, o := range batch {
		if o.deadline.IsZero() || o.deadline.After(limit) {
			deadline = limit
			break
		}
		if o.deadline.After(deadline) {
			deadline = o.deadline
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil && !errors.As(err, new(*pgconn.ConnectError)) {
		// Most likely a pooled connection the server closed; BEGIN did
		// nothing, so try once more on another connection.
		tx, err = s.pool.Begin(ctx)
	}
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", wrapErr(err))
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit, a no-op

	single := len(batch) == 1
	var acts []*op
	for _, o := range batch {
		if o.act != nil {
			acts = append(acts, o)
		}
	}
	if len(acts) > 0 {
		// The group locks every key of the batch, in the batch's order,
		// before any other op takes a lock.
		var lockKeys [][]byte
		for _, o := range batch {
			if o.lockKey != nil {
				lockKeys = append(lockKeys, o.lockKey)
			}
		}
		if err := s.activateGroup(ctx, tx, acts, lockKeys); err != nil {
			switch {
			case retryable(err) || errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil:
				return err
			case single:
				batch[0].err = err
			default:
				return errRunAlone // a data error: find its op
			}
		}
	}
	for _, o := range batch {
		if o.act != nil {
			continue
		}
		t := &wtx{ctx: ctx, tx: tx, op: o}
		if single {
			o.err = o.fn(t)
			break
		}
		if _, err := tx.Exec(ctx, "SAVEPOINT op"); err != nil {
			return fmt.Errorf("postgres: savepoint: %w", wrapErr(err))
		}
		if o.err = o.fn(t); o.err != nil {
			if retryable(o.err) {
				return o.err
			}
			o.changes, o.audit = nil, nil
			if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT op"); err != nil {
				return fmt.Errorf("postgres: rollback to savepoint: %w", wrapErr(err))
			}
		}
		if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT op"); err != nil {
			return fmt.Errorf("postgres: release savepoint: %w", wrapErr(err))
		}
	}
	if single && batch[0].err != nil {
		if retryable(batch[0].err) {
			return batch[0].err
		}
		return nil // rolled back by the deferred Rollback
	}

	var changes []string
	var entries []store.AuditEntry
	for _, o := range batch {
		if o.err == nil {
			changes = append(changes, o.changes...)
			entries = append(entries, o.audit...)
		}
	}
	if err := insertAudit(ctx, tx, entries); err != nil {
		return err
	}
	if len(changes) > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, c) FROM unnest($2::text[]) AS c`, changesChannel, changes); err != nil {
			return fmt.Errorf("postgres: notify: %w", wrapErr(err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", wrapErr(err))
	}
	return nil
}

func insertAudit(ctx context.Context, tx pgx.Tx, entries []store.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	at := make([]int64, len(entries))
	actor := make([]string, len(entries))
	action := make([]string, len(entries))
	target := make([]string, len(entries))
	detail := make([]string, len(entries))
	reqID := make([]string, len(entries))
	for i, a := range entries {
		at[i], actor[i], action[i], target[i], detail[i], reqID[i] = store.Millis(a.At), a.Actor, a.Action, a.Target, a.Detail, a.RequestID
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockAudit); err != nil {
		return fmt.Errorf("postgres: append audit: lock: %w", wrapErr(err))
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (at, actor, action, target, detail, request_id)
		SELECT at, actor, action, target, detail, request_id
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
			WITH ORDINALITY AS e(at, actor, action, target, detail, request_id, n)
		ORDER BY n`, at, actor, action, target, detail, reqID)
	if err != nil {
		return fmt.Errorf("postgres: append audit: %w", wrapErr(err))
	}
	return nil
}
