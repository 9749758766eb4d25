package postgres

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/echt-dev/echt/internal/store"
)

const (
	keyCols        = `hash, sku_id, last_group, blocked, block_reason, blocked_at, created_at, active_activations, activations, not_after`
	activationCols = `id, key_hash, sku_id, product_id, last_group, profile, status, created_at, not_after, ended_at, end_reason, prior_id, anchors`
	skuCols        = `id, product_id, edition, channel, policy, entitlements, key_group, next_serial, created_at`
	tokenCols      = `id, hash, role, description, created_at, revoked_at`
	productCols    = `id, name, hardware_salt, created_at`
	signingKeyCols = `id, role, public_key, private_key, certificate, created_at, retired_at`
)

type scanner interface{ Scan(...any) error }

// collect scans every row with scan. Like the SQLite store, it returns nil
// when there are no rows.
func collect[T any](rows pgx.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, wrapErr(err)
	}
	out, err := pgx.AppendRows([]T(nil), rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, wrapErr(err)
	}
	return out, nil
}

// nonNil keeps a nil slice from becoming NULL in a NOT NULL column.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Bootstrap implements store.Store.
func (s *Store) Bootstrap(ctx context.Context, b store.Bootstrap) (bool, error) {
	var created bool
	err := s.write(ctx, nil, func(t *wtx) error {
		created = false
		tag, err := t.exec(`INSERT INTO settings (name, value) VALUES ('initialized', $1) ON CONFLICT (name) DO NOTHING`,
			[]byte(time.Now().UTC().Format(time.RFC3339)))
		if err != nil {
			return fmt.Errorf("bootstrap: %w", wrapErr(err))
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		now := store.Millis(time.Now())
		for name, v := range b.Secrets {
			if _, err := t.exec(`INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3)`, name, nonNil(v), now); err != nil {
				return fmt.Errorf("bootstrap: secret %s: %w", name, wrapErr(err))
			}
		}
		for _, k := range b.SigningKeys {
			if err := insertSigningKey(t, k); err != nil {
				return fmt.Errorf("bootstrap: %w", err)
			}
		}
		if b.Token.ID != "" {
			if err := insertToken(t, b.Token); err != nil {
				return fmt.Errorf("bootstrap: %w", err)
			}
		}
		t.audit(b.Audit)
		created = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// Secret implements store.Store.
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, wrapErr(err))
	}
	return v, nil
}

// PutSecret implements store.Store.
func (s *Store) PutSecret(ctx context.Context, name string, value []byte) error {
	return s.write(ctx, nil, func(t *wtx) error {
		_, err := t.exec(`INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3)`, name, nonNil(value), store.Millis(time.Now()))
		if err != nil {
			return fmt.Errorf("put secret %s: %w", name, wrapErr(err))
		}
		return nil
	})
}

func insertSigningKey(t *wtx, k store.SigningKey) error {
	_, err := t.exec(`INSERT INTO signing_keys (`+signingKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.Role, nonNil(k.PublicKey), nonNil(k.PrivateKey), nonNil(k.Certificate), store.Millis(k.CreatedAt), store.Millis(k.RetiredAt))
	if err != nil {
		return fmt.Errorf("insert signing key %s: %w", k.ID, wrapErr(err))
	}
	t.notify(store.ChangeSigningKey, k.ID)
	return nil
}

func scanSigningKey(sc scanner) (store.SigningKey, error) {
	var k store.SigningKey
	var created, retired int64
	err := sc.Scan(&k.ID, &k.Role, &k.PublicKey, &k.PrivateKey, &k.Certificate, &created, &retired)
	k.CreatedAt, k.RetiredAt = store.FromMillis(created), store.FromMillis(retired)
	return k, err
}

// SigningKeys implements store.Store.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+signingKeyCols+` FROM signing_keys ORDER BY created_at, id`)
	out, err := collect(rows, err, scanSigningKey)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return out, nil
}

// RotateSigningKey implements store.Store.
func (s *Store) RotateSigningKey(ctx context.Context, k store.SigningKey, a store.AuditEntry) error {
	return s.write(ctx, nil, func(t *wtx) error {
		// Concurrent rotations must see each other's new key, or both
		// would stay current.
		if _, err := t.exec(`SELECT pg_advisory_xact_lock($1)`, lockSigningKeys); err != nil {
			return fmt.Errorf("rotate signing key: lock: %w", wrapErr(err))
		}
		if _, err := t.exec(`UPDATE signing_keys SET retired_at = $1 WHERE role = 'signing' AND retired_at = 0`, store.Millis(k.CreatedAt)); err != nil {
			return fmt.Errorf("retire signing keys: %w", wrapErr(err))
		}
		if err := insertSigningKey(t, k); err != nil {
			return err
		}
		t.audit(a)
		return nil
	})
}

func insertToken(t *wtx, tok store.Token) error {
	_, err := t.exec(`INSERT INTO tokens (id, hash, role, description, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, 0)`,
		tok.ID, nonNil(tok.Hash), tok.Role, tok.Description, store.Millis(tok.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert token %s: %w", tok.ID, wrapErr(err))
	}
	return nil
}

// CreateToken implements store.Store.
func (s *Store) CreateToken(ctx context.Context, tok store.Token, a store.AuditEntry) error {
	return s.write(ctx, nil, func(t *wtx) error {
		if err := insertToken(t, tok); err != nil {
			return err
		}
		t.audit(a)
		return nil
	})
}

func scanToken(sc scanner) (store.Token, error) {
	var tok store.Token
	var created, revoked int64
	err := sc.Scan(&tok.ID, &tok.Hash, &tok.Role, &tok.Description, &created, &revoked)
	tok.CreatedAt, tok.RevokedAt = store.FromMillis(created), store.FromMillis(revoked)
	return tok, err
}

// Token implements store.Store.
func (s *Store) Token(ctx context.Context, id string) (store.Token, error) {
	tok, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = $1`, id))
	if err != nil {
		return store.Token{}, fmt.Errorf("token %s: %w", id, wrapErr(err))
	}
	return tok, nil
}

// Tokens implements store.Store.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created_at, id`)
	out, err := collect(rows, err, scanToken)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return out, nil
}

// RevokeToken implements store.Store.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time, a store.AuditEntry) (store.Token, error) {
	var tok store.Token
	err := s.write(ctx, nil, func(t *wtx) error {
		// Lock the valid admin tokens first: a concurrent revocation
		// waits here and then counts what this one left.
		if _, err := t.exec(`SELECT id FROM tokens WHERE role = 'admin' AND revoked_at = 0 ORDER BY id FOR UPDATE`); err != nil {
			return fmt.Errorf("revoke token %s: %w", id, wrapErr(err))
		}
		tag, err := t.exec(`UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0`, store.Millis(at), id)
		if err != nil {
			return fmt.Errorf("revoke token %s: %w", id, wrapErr(err))
		}
		tok, err = scanToken(t.queryRow(`SELECT `+tokenCols+` FROM tokens WHERE id = $1`, id))
		if err != nil {
			return fmt.Errorf("revoke token %s: %w", id, wrapErr(err))
		}
		if tag.RowsAffected() == 0 {
			return nil // already revoked: idempotent, no audit entry
		}
		if tok.Role == "admin" {
			var left int
			if err := t.queryRow(`SELECT count(*) FROM tokens WHERE role = 'admin' AND revoked_at = 0`).Scan(&left); err != nil {
				return fmt.Errorf("revoke token %s: %w", id, wrapErr(err))
			}
			if left == 0 {
				return store.ErrLastAdmin
			}
		}
		t.notify(store.ChangeToken, id)
		t.audit(a)
		return nil
	})
	if err != nil {
		return store.Token{}, err
	}
	return tok, nil
}

// CreateProduct implements store.Store.
func (s *Store) CreateProduct(ctx context.Context, p store.Product, a store.AuditEntry) error {
	return s.write(ctx, nil, func(t *wtx) error {
		_, err := t.exec(`INSERT INTO products (`+productCols+`) VALUES ($1, $2, $3, $4)`, p.ID, p.Name, nonNil(p.HardwareSalt), store.Millis(p.CreatedAt))
		if err != nil {
			return fmt.Errorf("create product %s: %w", p.ID, wrapErr(err))
		}
		t.notify(store.ChangeProduct, p.ID)
		t.audit(a)
		return nil
	})
}

func scanProduct(sc scanner) (store.Product, error) {
	var p store.Product
	var created int64
	err := sc.Scan(&p.ID, &p.Name, &p.HardwareSalt, &created)
	p.CreatedAt = store.FromMillis(created)
	return p, err
}

// Product implements store.Store.
func (s *Store) Product(ctx context.Context, id string) (store.Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `SELECT `+productCols+` FROM products WHERE id = $1`, id))
	if err != nil {
		return store.Product{}, fmt.Errorf("product %s: %w", id, wrapErr(err))
	}
	return p, nil
}

// Products implements store.Store.
func (s *Store) Products(ctx context.Context) ([]store.Product, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+productCols+` FROM products ORDER BY id`)
	out, err := collect(rows, err, scanProduct)
	if err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	return out, nil
}

// CreateSKU implements store.Store.
func (s *Store) CreateSKU(ctx context.Context, sku store.SKU, a store.AuditEntry) (store.SKU, error) {
	policy, err := json.Marshal(sku.Policy)
	if err != nil {
		return store.SKU{}, fmt.Errorf("create sku %s: %w", sku.ID, err)
	}
	if sku.Entitlements == nil {
		sku.Entitlements = []string{}
	}
	ents, err := json.Marshal(sku.Entitlements)
	if err != nil {
		return store.SKU{}, fmt.Errorf("create sku %s: %w", sku.ID, err)
	}
	err = s.write(ctx, nil, func(t *wtx) error {
		// Key groups are max+1: one assignment at a time, across nodes.
		if _, err := t.exec(`SELECT pg_advisory_xact_lock($1)`, lockSKUGroup); err != nil {
			return fmt.Errorf("create sku %s: lock: %w", sku.ID, wrapErr(err))
		}
		var exists bool
		if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)`, sku.ProductID).Scan(&exists); err != nil {
			return fmt.Errorf("create sku %s: %w", sku.ID, wrapErr(err))
		}
		if !exists {
			return fmt.Errorf("create sku %s: product %s: %w", sku.ID, sku.ProductID, store.ErrNotFound)
		}
		var group int64
		if err := t.queryRow(`SELECT coalesce(max(key_group), 0) + 1 FROM skus`).Scan(&group); err != nil {
			return fmt.Errorf("create sku %s: %w", sku.ID, wrapErr(err))
		}
		if group > 0xffff {
			return fmt.Errorf("create sku %s: no key group left: %w", sku.ID, store.ErrExhausted)
		}
		_, err := t.exec(`INSERT INTO skus (`+skuCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)`,
			sku.ID, sku.ProductID, sku.Edition, sku.Channel, string(policy), string(ents), group, store.Millis(sku.CreatedAt))
		if err != nil {
			return fmt.Errorf("create sku %s: %w", sku.ID, wrapErr(err))
		}
		sku.Group = uint16(group)
		t.notify(store.ChangeSKU, sku.ID)
		t.audit(a)
		return nil
	})
	if err != nil {
		return store.SKU{}, err
	}
	return sku, nil
}

func scanSKU(sc scanner) (store.SKU, error) {
	var k store.SKU
	var policy, ents string
	var group int32
	var next, created int64
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
	k, err := scanSKU(s.pool.QueryRow(ctx, `SELECT `+skuCols+` FROM skus WHERE id = $1`, id))
	if err != nil {
		return store.SKU{}, fmt.Errorf("sku %s: %w", id, wrapErr(err))
	}
	return k, nil
}

// SKUByGroup implements store.Store.
func (s *Store) SKUByGroup(ctx context.Context, group uint16) (store.SKU, error) {
	k, err := scanSKU(s.pool.QueryRow(ctx, `SELECT `+skuCols+` FROM skus WHERE key_group = $1`, int32(group)))
	if err != nil {
		return store.SKU{}, fmt.Errorf("sku group %d: %w", group, wrapErr(err))
	}
	return k, nil
}

// SKUs implements store.Store.
func (s *Store) SKUs(ctx context.Context) ([]store.SKU, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+skuCols+` FROM skus ORDER BY product_id, id`)
	out, err := collect(rows, err, scanSKU)
	if err != nil {
		return nil, fmt.Errorf("skus: %w", err)
	}
	return out, nil
}

// ReserveSerials implements store.Store.
func (s *Store) ReserveSerials(ctx context.Context, skuID string, n int, max uint32) (uint32, error) {
	if n <= 0 {
		return 0, fmt.Errorf("reserve serials: n = %d", n)
	}
	var first int64
	err := s.write(ctx, nil, func(t *wtx) error {
		err := t.queryRow(`UPDATE skus SET next_serial = next_serial + $2
			WHERE id = $1 AND next_serial + $2 - 1 <= $3
			RETURNING next_serial - $2`, skuID, int64(n), int64(max)).Scan(&first)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("reserve serials for %s: %w", skuID, wrapErr(err))
		}
		var exists bool
		if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM skus WHERE id = $1)`, skuID).Scan(&exists); err != nil {
			return fmt.Errorf("reserve serials for %s: %w", skuID, wrapErr(err))
		}
		if !exists {
			return fmt.Errorf("reserve serials for %s: %w", skuID, store.ErrNotFound)
		}
		return fmt.Errorf("reserve %d serials for %s: %w", n, skuID, store.ErrExhausted)
	})
	if err != nil {
		return 0, err
	}
	return uint32(first), nil
}

// InsertKeys implements store.Store.
func (s *Store) InsertKeys(ctx context.Context, keys []store.Key, a store.AuditEntry) error {
	return s.write(ctx, nil, func(t *wtx) error {
		_, err := t.tx.CopyFrom(t.ctx, pgx.Identifier{"product_keys"}, []string{"hash", "sku_id", "last_group", "created_at"},
			pgx.CopyFromSlice(len(keys), func(i int) ([]any, error) {
				k := keys[i]
				return []any{k.Hash, k.SKUID, k.LastGroup, store.Millis(k.CreatedAt)}, nil
			}))
		if err != nil {
			return fmt.Errorf("insert keys: %w", wrapErr(err))
		}
		t.audit(a)
		return nil
	})
}

func scanKey(sc scanner) (store.Key, error) {
	var k store.Key
	var blockedAt, created, notAfter int64
	err := sc.Scan(&k.Hash, &k.SKUID, &k.LastGroup, &k.Blocked, &k.BlockReason, &blockedAt, &created, &k.ActiveActivations, &k.Activations, &notAfter)
	k.BlockedAt, k.CreatedAt, k.NotAfter = store.FromMillis(blockedAt), store.FromMillis(created), store.FromMillis(notAfter)
	return k, err
}

// Key implements store.Store.
func (s *Store) Key(ctx context.Context, hash []byte) (store.Key, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyCols+` FROM product_keys WHERE hash = $1`, hash))
	if err != nil {
		return store.Key{}, fmt.Errorf("key: %w", wrapErr(err))
	}
	return k, nil
}

// SetKeyBlocked implements store.Store.
func (s *Store) SetKeyBlocked(ctx context.Context, hash []byte, blocked bool, reason string, at time.Time, a store.AuditEntry) (store.Key, error) {
	var ms int64
	if blocked {
		ms = store.Millis(at)
	} else {
		reason = ""
	}
	var k store.Key
	err := s.write(ctx, hash, func(t *wtx) error {
		var err error
		k, err = scanKey(t.queryRow(`UPDATE product_keys SET blocked = $2, block_reason = $3, blocked_at = $4
			WHERE hash = $1 RETURNING `+keyCols, hash, blocked, reason, ms))
		if err != nil {
			return fmt.Errorf("block key: %w", wrapErr(err))
		}
		t.notify(store.ChangeKey, hex.EncodeToString(hash))
		t.audit(a)
		return nil
	})
	if err != nil {
		return store.Key{}, err
	}
	return k, nil
}

// AppendAudit implements store.Store.
func (s *Store) AppendAudit(ctx context.Context, a store.AuditEntry) error {
	return s.write(ctx, nil, func(t *wtx) error {
		t.audit(a)
		return nil
	})
}

// Audit implements store.Store.
func (s *Store) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, at, actor, action, target, detail, request_id FROM audit_log
		WHERE seq > $1 AND ($2 = '' OR action = $2)
		ORDER BY seq LIMIT $3`, q.AfterSeq, q.Action, q.Limit)
	out, err := collect(rows, err, func(sc scanner) (store.AuditEntry, error) {
		var e store.AuditEntry
		var at int64
		err := sc.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.RequestID)
		e.At = store.FromMillis(at)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return out, nil
}

func scanActivation(sc scanner) (store.Activation, error) {
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

// Activate implements store.Store. A writer decides the activations
// waiting for it together (activateGroup), a lone one as a group of one.
func (s *Store) Activate(ctx context.Context, keyHash []byte, anchors [][]byte, decide store.DecideFunc) (store.Activation, bool, error) {
	act := &store.ActivateOp{KeyHash: keyHash, Anchors: anchors, Decide: decide}
	if err := s.enqueue(ctx, &op{lockKey: keyHash, act: act, done: make(chan struct{})}); err != nil {
		return store.Activation{}, false, err
	}
	return act.Result, act.Created, nil
}

// The anchor look-ups start from the request's anchors (unnest) and seek
// the anchor index once per anchor (LATERAL): prepared statements get
// generic plans, and a plan made while the tables were small must not turn
// into a scan of every anchor of the product as they grow. OFFSET 0 keeps
// the planner from flattening the LATERAL subqueries into a hash join.
var (
	byAnchorsSQL = `SELECT DISTINCT ` + prefixed("a.", activationCols) + `
		FROM unnest($2::bytea[]) AS q(anchor),
		LATERAL (SELECT activation_id FROM activation_anchors x WHERE x.anchor = q.anchor AND x.product_id = $1 OFFSET 0) AS x,
		LATERAL (SELECT * FROM activations a WHERE a.id = x.activation_id AND a.status = 'active' OFFSET 0) AS a
		ORDER BY a.created_at, a.id`
)

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, ", ")
}

// Activation implements store.Store.
func (s *Store) Activation(ctx context.Context, id string) (store.Activation, error) {
	a, err := scanActivation(s.pool.QueryRow(ctx, `SELECT `+activationCols+` FROM activations WHERE id = $1`, id))
	if err != nil {
		return store.Activation{}, fmt.Errorf("activation %s: %w", id, wrapErr(err))
	}
	return a, nil
}

// ActivationsByKey implements store.Store.
func (s *Store) ActivationsByKey(ctx context.Context, keyHash []byte) ([]store.Activation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+activationCols+` FROM activations WHERE key_hash = $1 ORDER BY created_at, id`, keyHash)
	out, err := collect(rows, err, scanActivation)
	if err != nil {
		return nil, fmt.Errorf("activations by key: %w", err)
	}
	return out, nil
}

// ActivationsByAnchors implements store.Store.
func (s *Store) ActivationsByAnchors(ctx context.Context, productID string, anchors [][]byte) ([]store.Activation, error) {
	if len(anchors) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, byAnchorsSQL, productID, anchors)
	out, err := collect(rows, err, scanActivation)
	if err != nil {
		return nil, fmt.Errorf("activations by anchors: %w", err)
	}
	return out, nil
}

// EndActivation implements store.Store.
func (s *Store) EndActivation(ctx context.Context, id, status, reason string, at time.Time, check func(store.Activation) error, a *store.AuditEntry) (store.Activation, error) {
	if status != store.StatusDeactivated && status != store.StatusRevoked {
		return store.Activation{}, fmt.Errorf("end activation: bad status %q", status)
	}
	// Lock the key row first, as Activate does; an activation's key never
	// changes, so it can be read before the transaction.
	var keyHash []byte
	err := s.pool.QueryRow(ctx, `SELECT key_hash FROM activations WHERE id = $1`, id).Scan(&keyHash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return store.Activation{}, fmt.Errorf("end activation %s: %w", id, wrapErr(err))
	}
	var out store.Activation
	err = s.write(ctx, keyHash, func(t *wtx) error {
		out = store.Activation{}
		if keyHash != nil {
			if _, err := t.exec(`SELECT 1 FROM product_keys WHERE hash = $1 FOR UPDATE`, keyHash); err != nil {
				return fmt.Errorf("end activation %s: %w", id, wrapErr(err))
			}
		}
		act, err := scanActivation(t.queryRow(`SELECT `+activationCols+` FROM activations WHERE id = $1 FOR UPDATE`, id))
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
		b := &pgx.Batch{}
		b.Queue(`UPDATE activations SET status = $1, ended_at = $2, end_reason = $3 WHERE id = $4`, status, store.Millis(at), reason, id)
		b.Queue(`UPDATE product_keys SET active_activations = active_activations - 1 WHERE hash = $1 AND active_activations > 0`, act.KeyHash)
		if err := t.tx.SendBatch(t.ctx, b).Close(); err != nil {
			return fmt.Errorf("end activation %s: %w", id, wrapErr(err))
		}
		act.Status, act.EndedAt, act.EndReason = status, store.FromMillis(store.Millis(at)), reason
		out = act
		t.notify(store.ChangeActivation, id)
		t.notify(store.ChangeKey, hex.EncodeToString(act.KeyHash))
		if a != nil {
			t.audit(*a)
		}
		return nil
	})
	if err != nil {
		return store.Activation{}, err
	}
	return out, nil
}

// RecordFeedback implements store.Store.
func (s *Store) RecordFeedback(ctx context.Context, page, lang string, helpful bool) error {
	yes, no := 0, 1
	if helpful {
		yes, no = 1, 0
	}
	return s.write(ctx, nil, func(t *wtx) error {
		_, err := t.exec(`INSERT INTO help_feedback (page, lang, yes, no) VALUES ($1, $2, $3, $4)
			ON CONFLICT (page, lang) DO UPDATE SET yes = help_feedback.yes + excluded.yes, no = help_feedback.no + excluded.no`, page, lang, yes, no)
		if err != nil {
			return fmt.Errorf("record feedback: %w", wrapErr(err))
		}
		return nil
	})
}

// Feedback implements store.Store.
func (s *Store) Feedback(ctx context.Context) ([]store.FeedbackCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT page, lang, yes, no FROM help_feedback ORDER BY page, lang`)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", wrapErr(err))
	}
	defer rows.Close()
	var out []store.FeedbackCount
	for rows.Next() {
		var f store.FeedbackCount
		if err := rows.Scan(&f.Page, &f.Lang, &f.Yes, &f.No); err != nil {
			return nil, fmt.Errorf("feedback: %w", wrapErr(err))
		}
		out = append(out, f)
	}
	return out, wrapErr(rows.Err())
}
