package postgres

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/echt-dev/echt/internal/store"
)

// ExpireActivations implements store.Store. It runs in a transaction of its
// own rather than in a writer's batch: it locks many key rows, and alone it
// can lock them in key order, as every batch does, without deadlocking with
// the keys locked by other requests of a batch.
func (s *Store) ExpireActivations(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("expire activations: limit = %d", limit)
	}
	select {
	case <-s.closing:
		return 0, store.ErrClosed
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		n, err := s.expireOnce(ctx, store.Millis(now), limit)
		if err == nil || !retryable(err) || attempt == maxAttempts {
			if err != nil {
				return 0, fmt.Errorf("expire activations: %w", wrapErr(err))
			}
			return n, nil
		}
		time.Sleep(time.Duration(attempt) * (5*time.Millisecond + rand.N(10*time.Millisecond)))
	}
}

func (s *Store) expireOnce(ctx context.Context, at int64, limit int) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit, a no-op
	var mine bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, lockSweep).Scan(&mine); err != nil {
		return 0, err
	}
	if !mine {
		return 0, nil // another node sweeps
	}
	// Lock the keys of the due activations first, in key order, as
	// Activate and EndActivation do; then end those still active.
	rows, err := tx.Query(ctx, `SELECT hash FROM product_keys WHERE hash IN (
			SELECT key_hash FROM activations
			WHERE status = 'active' AND not_after > 0 AND not_after <= $1
			ORDER BY not_after, id LIMIT $2)
		ORDER BY hash FOR UPDATE`, at, limit)
	if err != nil {
		return 0, err
	}
	locked, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return 0, err
	}
	if len(locked) == 0 {
		return 0, nil
	}
	rows, err = tx.Query(ctx, `WITH due AS (
			SELECT id FROM activations
			WHERE status = 'active' AND not_after > 0 AND not_after <= $1 AND key_hash = ANY($5::bytea[])
			ORDER BY not_after, id LIMIT $2)
		UPDATE activations a SET status = $3, ended_at = $1, end_reason = $4
		FROM due WHERE a.id = due.id AND a.status = 'active'
		RETURNING a.id, a.key_hash`, at, limit, store.StatusDeactivated, store.EndReasonExpired, locked)
	if err != nil {
		return 0, err
	}
	var ids []string
	freed := map[string]int{} // key hash (as bytes in a string) -> seats
	for rows.Next() {
		var id string
		var key []byte
		if err := rows.Scan(&id, &key); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
		freed[string(key)]++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	keys := make([][]byte, 0, len(freed))
	counts := make([]int32, 0, len(freed))
	changes := make([]string, 0, len(ids)+len(freed))
	for _, id := range ids {
		changes = append(changes, store.ChangeActivation+":"+id)
	}
	for k, n := range freed {
		keys = append(keys, []byte(k))
		counts = append(counts, int32(n))
		changes = append(changes, store.ChangeKey+":"+hex.EncodeToString([]byte(k)))
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE product_keys k SET active_activations = greatest(k.active_activations - f.n, 0)
		FROM unnest($1::bytea[], $2::int[]) AS f(hash, n) WHERE k.hash = f.hash`, keys, counts)
	b.Queue(`SELECT pg_notify($1, c) FROM unnest($2::text[]) AS c`, changesChannel, changes)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return len(ids), nil
}
