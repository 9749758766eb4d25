package postgres

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/echt-dev/echt/internal/store"
)

// The statements of activateGroup. The keys are locked in hash order, the
// order every batch locks in, so batches of different writers and nodes do
// not deadlock; the candidates are read by the next statement of the same
// pipeline, after the locks are held.
//
// Every lookup of the candidates statement is a LATERAL subquery with
// OFFSET 0, which keeps it an index lookup per pair: planned as a join,
// PostgreSQL hashes the whole product_keys table for a few pairs (it
// cannot know how short the arrays are), which cost more than the rest of
// the transaction together.
var (
	groupKeysSQL = `SELECT ` + prefixed("k.", keyCols) + `, s.product_id
		FROM product_keys k JOIN skus s ON s.id = k.sku_id
		WHERE k.hash = ANY($1::bytea[]) ORDER BY k.hash FOR UPDATE OF k`
	groupCandidatesSQL = `SELECT ` + prefixed("a.", activationCols) + `, kp.product_id, q.anchor
		FROM unnest($1::bytea[], $2::bytea[]) AS q(key_hash, anchor),
		LATERAL (SELECT s.product_id FROM product_keys k JOIN skus s ON s.id = k.sku_id WHERE k.hash = q.key_hash OFFSET 0) AS kp,
		LATERAL (SELECT activation_id FROM activation_anchors x WHERE x.anchor = q.anchor AND x.product_id = kp.product_id OFFSET 0) AS x,
		LATERAL (SELECT * FROM activations a WHERE a.id = x.activation_id AND a.status = 'active' OFFSET 0) AS a`
	groupWriteSQL = `WITH act AS (
			INSERT INTO activations (id, key_hash, sku_id, product_id, last_group, profile, status, created_at, not_after, prior_id, anchors)
			SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::text[], $8::bigint[], $9::bigint[], $10::text[], $18::bytea[])),
		anc AS (
			INSERT INTO activation_anchors (product_id, anchor, activation_id)
			SELECT * FROM unnest($11::text[], $12::bytea[], $13::text[]) ON CONFLICT DO NOTHING)
		UPDATE product_keys k SET active_activations = v.active, activations = v.total, not_after = v.not_after
		FROM unnest($14::bytea[], $15::int[], $16::int[], $17::bigint[]) AS v(hash, active, total, not_after)
		WHERE k.hash = v.hash`
)

// extraScan scans a row whose last columns go to extra.
type extraScan struct {
	sc    scanner
	extra []any
}

func (e extraScan) Scan(dest ...any) error { return e.sc.Scan(append(dest, e.extra...)...) }

// activateGroup decides the batch's activations together in two round
// trips: one pipeline locks their keys and reads the stored activations
// sharing an anchor with any of them, store.DecideBatch decides them in
// order in memory, and one statement writes every new activation, its
// anchors and the keys' seat counters. Per-request errors (a blocked key,
// a full key) land in the op; an error of the statements is returned.
//
// lockKeys are the key rows every op of the batch locks: they are all
// locked here, in hash order, so that the batch's other ops find theirs
// held already and batches of different writers and nodes never wait for
// each other in a cycle.
func (s *Store) activateGroup(ctx context.Context, tx pgx.Tx, acts []*op, lockKeys [][]byte) error {
	ops := make([]*store.ActivateOp, len(acts))
	var hashes, pairKeys, pairAnchors [][]byte
	seen := map[string]bool{}
	for _, k := range lockKeys {
		if !seen[string(k)] {
			seen[string(k)] = true
			hashes = append(hashes, k)
		}
	}
	for i, o := range acts {
		ops[i] = o.act
		if !seen[string(o.act.KeyHash)] {
			seen[string(o.act.KeyHash)] = true
			hashes = append(hashes, o.act.KeyHash)
		}
		for _, a := range o.act.Anchors {
			if k := string(o.act.KeyHash) + "\x00" + string(a); !seen[k] {
				seen[k] = true
				pairKeys, pairAnchors = append(pairKeys, o.act.KeyHash), append(pairAnchors, a)
			}
		}
	}
	b := &pgx.Batch{}
	b.Queue(groupKeysSQL, hashes)
	b.Queue(groupCandidatesSQL, nonNilList(pairKeys), nonNilList(pairAnchors))
	br := tx.SendBatch(ctx, b)
	keys := map[string]store.BatchKey{}
	var hits []store.AnchorHit
	err := func() error {
		rows, err := br.Query()
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
		if rows.Close(); rows.Err() != nil {
			return fmt.Errorf("activate: keys: %w", rows.Err())
		}
		if rows, err = br.Query(); err != nil {
			return fmt.Errorf("activate: candidates: %w", err)
		}
		for rows.Next() {
			var h store.AnchorHit
			if h.Activation, err = scanActivation(extraScan{rows, []any{&h.ProductID, &h.Anchor}}); err != nil {
				rows.Close()
				return fmt.Errorf("activate: candidates: %w", err)
			}
			hits = append(hits, h)
		}
		rows.Close()
		return rows.Err()
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return wrapErr(err)
	}

	news, changed, released := store.DecideBatch(ops, keys, hits)
	if len(news) > 0 {
		n := len(news)
		ids, skus, products, groups, statuses, priors := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		keyHashes, profiles, packed := make([][]byte, n), make([][]byte, n), make([][]byte, n)
		created, notAfter := make([]int64, n), make([]int64, n)
		var ancProducts, ancIDs []string
		ancs := [][]byte{}
		for i, a := range news {
			ids[i], keyHashes[i], skus[i], products[i], groups[i] = a.ID, a.KeyHash, a.SKUID, a.ProductID, a.LastGroup
			profiles[i], statuses[i], created[i], notAfter[i], priors[i] = nonNil(a.Profile), a.Status, store.Millis(a.CreatedAt), store.Millis(a.NotAfter), a.PriorID
			p, err := store.PackAnchors(a.Anchors)
			if err != nil {
				return fmt.Errorf("activate: %w", err)
			}
			packed[i] = nonNil(p)
			for _, an := range a.Anchors {
				ancProducts, ancs, ancIDs = append(ancProducts, a.ProductID), append(ancs, an), append(ancIDs, a.ID)
			}
		}
		m := len(changed)
		kh, active, total, kna := make([][]byte, m), make([]int32, m), make([]int32, m), make([]int64, m)
		for i, k := range changed {
			kh[i], active[i], total[i], kna[i] = k.Hash, int32(k.ActiveActivations), int32(k.Activations), store.Millis(k.NotAfter)
		}
		if _, err := tx.Exec(ctx, groupWriteSQL, ids, keyHashes, skus, products, groups, profiles, statuses, created, notAfter, priors,
			nonNilStrings(ancProducts), ancs, nonNilStrings(ancIDs), kh, active, total, kna, packed); err != nil {
			return fmt.Errorf("activate: insert: %w", wrapErr(err))
		}
	}
	for _, r := range released {
		// The key's row is locked, and every change of an activation's
		// status also takes its key's lock, so the candidate is still
		// active; the row count checks it.
		tag, err := tx.Exec(ctx, `UPDATE activations SET status = $1, ended_at = $2, end_reason = $3 WHERE id = $4 AND status = 'active'`,
			store.StatusDeactivated, store.Millis(r.At), store.EndReasonHardwareChanged, r.ID)
		if err != nil {
			return fmt.Errorf("activate: release %s: %w", r.ID, wrapErr(err))
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("activate: release %s: %d rows", r.ID, tag.RowsAffected())
		}
	}
	for i, o := range acts {
		o.err, o.changes = ops[i].Err, nil
		if ops[i].Created {
			o.changes = []string{store.ChangeKey + ":" + hex.EncodeToString(ops[i].KeyHash)}
		}
		if ops[i].Released != "" {
			o.changes = append(o.changes, store.ChangeActivation+":"+ops[i].Released)
		}
	}
	return nil
}

func nonNilList(b [][]byte) [][]byte {
	if b == nil {
		return [][]byte{}
	}
	return b
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
