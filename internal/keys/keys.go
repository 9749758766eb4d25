// Package keys manages the life of product keys on the server: issuing
// them in durable batches, looking them up for support, and blocking them.
// The key format itself is package productkey.
package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/problem"
)

// MaxBatch is the largest number of keys one Generate call makes.
const MaxBatch = 50_000

// Block reasons.
var BlockReasons = []string{"counterfeit", "leaked", "refunded", "other"}

// Store is what the key service needs.
type Store interface {
	SKU(ctx context.Context, id string) (store.SKU, error)
	SKUByGroup(ctx context.Context, group uint16) (store.SKU, error)
	ReserveSerials(ctx context.Context, skuID string, n int, max uint32) (uint32, error)
	InsertKeys(ctx context.Context, keys []store.Key, a store.AuditEntry) error
	Key(ctx context.Context, hash []byte) (store.Key, error)
	SetKeyBlocked(ctx context.Context, hash []byte, blocked bool, reason string, at time.Time, a store.AuditEntry) (store.Key, error)
	ActivationsByKey(ctx context.Context, keyHash []byte) ([]store.Activation, error)
}

// Service issues, finds and blocks keys.
type Service struct {
	st     Store
	secret *productkey.Secret
}

// New returns a key service.
func New(st Store, secret *productkey.Secret) *Service { return &Service{st: st, secret: secret} }

// Actor identifies who makes a change.
type Actor struct {
	ID        string
	RequestID string
}

func (a Actor) entry(action, target string, detail any) store.AuditEntry {
	d, _ := json.Marshal(detail)
	return store.AuditEntry{At: time.Now().UTC(), Actor: a.ID, Action: action, Target: target, Detail: string(d), RequestID: a.RequestID}
}

// Batch is the result of one Generate call: the keys exist in the store.
type Batch struct {
	SKU         string   `json:"sku"`
	FirstSerial uint32   `json:"first_serial"`
	Keys        []string `json:"keys"`
}

// Generate issues count keys of a SKU. They are durable when it returns.
func (s *Service) Generate(ctx context.Context, by Actor, skuID string, count int) (Batch, error) {
	if count < 1 || count > MaxBatch {
		return Batch{}, problem.Newf(problem.InvalidRequest, "count must be between 1 and %d per request", MaxBatch)
	}
	sku, err := s.st.SKU(ctx, skuID)
	if errors.Is(err, store.ErrNotFound) {
		return Batch{}, problem.Newf(problem.SKUNotFound, "no SKU %q: create it first (echt admin sku create)", skuID)
	}
	if err != nil {
		return Batch{}, err
	}
	first, err := s.st.ReserveSerials(ctx, skuID, count, productkey.MaxSerial)
	if errors.Is(err, store.ErrExhausted) {
		return Batch{}, problem.Newf(problem.KeyspaceExhaust, "SKU %q has fewer than %d serial numbers left", skuID, count)
	}
	if err != nil {
		return Batch{}, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	out := Batch{SKU: skuID, FirstSerial: first, Keys: make([]string, count)}
	recs := make([]store.Key, count)
	for i := range count {
		k, err := s.secret.Issue(sku.Group, first+uint32(i))
		if err != nil {
			return Batch{}, err
		}
		out.Keys[i] = k.String()
		recs[i] = store.Key{Hash: s.secret.Hash(k), SKUID: skuID, LastGroup: k.LastGroup(), CreatedAt: now}
	}
	// Inserting in index order keeps the B-tree writes local.
	slices.SortFunc(recs, func(a, b store.Key) int { return bytes.Compare(a.Hash, b.Hash) })
	a := by.entry("keys.generate", skuID, map[string]any{"count": count, "first_serial": first})
	if err := s.st.InsertKeys(ctx, recs, a); err != nil {
		return Batch{}, fmt.Errorf("generate keys: %w", err)
	}
	return out, nil
}

// Resolve checks a key typed by a person and returns its stored record.
// A typo is KEY_TYPO, a forgery or an unknown key KEY_INVALID.
func (s *Service) Resolve(ctx context.Context, raw string) (productkey.Key, store.Key, error) {
	k, v := s.secret.Classify(raw)
	switch v {
	case productkey.Typo:
		return k, store.Key{}, problem.New(problem.KeyTypo, "the product key has a typing error: check each character against your certificate or receipt")
	case productkey.Forged:
		return k, store.Key{}, problem.New(problem.KeyInvalid, "this is not a valid product key for this publisher")
	}
	rec, err := s.st.Key(ctx, s.secret.Hash(k))
	if errors.Is(err, store.ErrNotFound) {
		return k, store.Key{}, problem.New(problem.KeyInvalid, "this product key was never issued")
	}
	if err != nil {
		return k, store.Key{}, err
	}
	return k, rec, nil
}

// Hash returns the stored hash of a parsed key.
func (s *Service) Hash(k productkey.Key) []byte { return s.secret.Hash(k) }

// Info is what support sees of a key.
type Info struct {
	PartialKey        string           `json:"partial_key"`
	Status            string           `json:"status"` // active or blocked
	BlockReason       string           `json:"block_reason,omitempty"`
	BlockedAt         time.Time        `json:"blocked_at,omitzero"`
	SKU               string           `json:"sku"`
	Product           string           `json:"product"`
	Edition           string           `json:"edition"`
	Channel           string           `json:"channel"`
	MaxDevices        int              `json:"max_devices"`
	ActiveActivations int              `json:"active_activations"`
	Activations       int              `json:"activations_total"`
	CreatedAt         time.Time        `json:"created_at"`
	ActivationList    []ActivationInfo `json:"activations"`
	// Unchanged is set by block and unblock when the key already was so
	// (blocked for the same reason, or not blocked): nothing was written,
	// nor added to the audit log.
	Unchanged bool `json:"unchanged,omitempty"`
}

// ActivationInfo is an activation as support sees it.
type ActivationInfo struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	EndReason string    `json:"end_reason,omitempty"`
	NotAfter  time.Time `json:"not_after,omitzero"`
}

// Lookup describes a key for support.
func (s *Service) Lookup(ctx context.Context, raw string) (Info, error) {
	_, rec, err := s.Resolve(ctx, raw)
	if err != nil {
		return Info{}, err
	}
	return s.describe(ctx, rec)
}

func (s *Service) describe(ctx context.Context, rec store.Key) (Info, error) {
	sku, err := s.st.SKU(ctx, rec.SKUID)
	if err != nil {
		return Info{}, fmt.Errorf("describe key: %w", err)
	}
	acts, err := s.st.ActivationsByKey(ctx, rec.Hash)
	if err != nil {
		return Info{}, fmt.Errorf("describe key: %w", err)
	}
	info := Info{
		PartialKey: productkey.Partial(rec.LastGroup), Status: "active", BlockReason: rec.BlockReason, BlockedAt: rec.BlockedAt,
		SKU: sku.ID, Product: sku.ProductID, Edition: sku.Edition, Channel: sku.Channel, MaxDevices: sku.Policy.MaxDevices,
		ActiveActivations: rec.ActiveActivations, Activations: rec.Activations, CreatedAt: rec.CreatedAt,
		ActivationList: []ActivationInfo{},
	}
	if rec.Blocked {
		info.Status = "blocked"
	}
	for _, a := range acts {
		info.ActivationList = append(info.ActivationList, ActivationInfo{ID: a.ID, Status: a.Status, CreatedAt: a.CreatedAt, EndedAt: a.EndedAt, EndReason: a.EndReason, NotAfter: a.NotAfter})
	}
	return info, nil
}

// SetBlocked blocks or unblocks a key. Reason is required to block.
func (s *Service) SetBlocked(ctx context.Context, by Actor, raw string, blocked bool, reason string) (Info, error) {
	if blocked && !slices.Contains(BlockReasons, reason) {
		return Info{}, problem.Newf(problem.InvalidRequest, "block reason %q: use counterfeit, leaked, refunded or other", reason)
	}
	k, rec, err := s.Resolve(ctx, raw)
	if err != nil {
		return Info{}, err
	}
	if rec.Blocked == blocked && (!blocked || rec.BlockReason == reason) {
		inf, err := s.describe(ctx, rec)
		inf.Unchanged = true
		return inf, err
	}
	action, detail := "key.unblock", map[string]any{}
	if blocked {
		action, detail = "key.block", map[string]any{"reason": reason}
	}
	rec, err = s.st.SetKeyBlocked(ctx, rec.Hash, blocked, reason, time.Now().UTC(), by.entry(action, productkey.Partial(k.LastGroup()), detail))
	if err != nil {
		return Info{}, fmt.Errorf("block key: %w", err)
	}
	return s.describe(ctx, rec)
}
