// Package auth owns admin API tokens and roles.
//
// A token is "echt_" + 16 id characters + "_" + 52 secret characters
// (32 random bytes). The store keeps the id and SHA-256 of the whole token;
// the token itself is shown once, at creation. Verification looks the id
// up and compares hashes in constant time. Verified tokens are cached per
// node for a short time and dropped when the store reports a change.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/echt-dev/echt/internal/cache"
	"github.com/echt-dev/echt/internal/ident"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/text"
	"github.com/echt-dev/echt/problem"
)

// Role is what a token may do.
type Role string

// The roles.
const (
	Admin        Role = "admin"        // everything
	Support      Role = "support"      // look up keys and activations, help customers move licenses
	Investigator Role = "investigator" // look up and block keys, read counterfeit reports
	Auditor      Role = "auditor"      // read everything, change nothing
)

// Roles lists every role.
var Roles = []Role{Admin, Support, Investigator, Auditor}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, k := range Roles {
		if r == k {
			return true
		}
	}
	return false
}

// Permission is one thing a route requires.
type Permission string

// Permissions.
const (
	CatalogRead      Permission = "catalog:read"
	CatalogWrite     Permission = "catalog:write"
	KeysGenerate     Permission = "keys:generate"
	KeysRead         Permission = "keys:read"
	KeysBlock        Permission = "keys:block"
	TokensManage     Permission = "tokens:manage"
	AuditRead        Permission = "audit:read"
	ActivationsRead  Permission = "activations:read"
	ActivationsWrite Permission = "activations:write"
	KeyringManage    Permission = "keyring:manage"
	ReportsRead      Permission = "reports:read"
)

var grants = map[Role]map[Permission]bool{
	Support:      {CatalogRead: true, KeysRead: true, ActivationsRead: true, ActivationsWrite: true},
	Investigator: {CatalogRead: true, KeysRead: true, KeysBlock: true, ActivationsRead: true, ReportsRead: true},
	Auditor:      {CatalogRead: true, KeysRead: true, ActivationsRead: true, AuditRead: true, ReportsRead: true},
}

// Can reports whether role r has permission p.
func (r Role) Can(p Permission) bool {
	if r == Admin {
		return true
	}
	return grants[r][p]
}

// Principal is an authenticated token.
type Principal struct {
	TokenID string
	Role    Role
}

// Store is what auth needs.
type Store interface {
	CreateToken(ctx context.Context, t store.Token, a store.AuditEntry) error
	Token(ctx context.Context, id string) (store.Token, error)
	Tokens(ctx context.Context) ([]store.Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time, a store.AuditEntry) (store.Token, error)
}

// Tokens issues and verifies tokens.
type Tokens struct {
	st Store
	// cache holds verified tokens' principals by the token's SHA-256.
	cache *cache.Cache[[32]byte, Principal]
	// recent holds the tokens verified valid lately, for the rate-limit
	// exemption only (Known): Invalidate and Bypass keep it, so that a
	// valid token stays exempt while caches are off.
	recent *cache.Cache[[32]byte, struct{}]
}

// NewTokens returns a token service; verified tokens are cached for ttl
// (0 means 30 seconds) unless a change invalidates them sooner.
func NewTokens(st Store, ttl time.Duration) *Tokens {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &Tokens{st: st, cache: cache.New[[32]byte, Principal](10000, ttl), recent: cache.New[[32]byte, struct{}](10000, recentFor)}
}

// Mint makes a new token string and its store record (not yet stored).
func Mint(role Role, description string, now time.Time) (string, store.Token) {
	idPart := ident.Random(10)
	token := "echt_" + idPart + "_" + ident.Random(32)
	h := sha256.Sum256([]byte(token))
	return token, store.Token{ID: "tok_" + idPart, Hash: h[:], Role: string(role), Description: description, CreatedAt: now.UTC().Truncate(time.Millisecond)}
}

func parse(token string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(token, "echt_")
	if !ok || len(token) > 200 {
		return "", false
	}
	idPart, secret, ok := strings.Cut(rest, "_")
	if !ok || len(idPart) != 16 || len(secret) != 52 {
		return "", false
	}
	return "tok_" + idPart, true
}

// ErrBadToken means a token is missing, malformed, unknown, wrong or revoked.
var ErrBadToken = problem.New(problem.Unauthorized, "a valid API token is required: pass --token or set ECHT_TOKEN (the first admin token is in DATA/admin-token)")

// Verify returns the principal of a token.
func (t *Tokens) Verify(ctx context.Context, token string) (Principal, error) {
	h := sha256.Sum256([]byte(token))
	if p, ok := t.cache.Get(h); ok {
		return p, nil
	}
	gen := t.cache.Generation()
	id, ok := parse(token)
	if !ok {
		return Principal{}, ErrBadToken
	}
	rec, err := t.st.Token(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrBadToken
	}
	if err != nil {
		return Principal{}, fmt.Errorf("verify token: %w", err)
	}
	if subtle.ConstantTimeCompare(rec.Hash, h[:]) != 1 || !rec.RevokedAt.IsZero() {
		return Principal{}, ErrBadToken
	}
	p := Principal{TokenID: rec.ID, Role: Role(rec.Role)}
	t.cache.Put(gen, h, p)
	t.recent.Put(t.recent.Generation(), h, struct{}{})
	return p, nil
}

// recentFor is how long a token verified valid stays Known.
const recentFor = 10 * time.Minute

// Known reports whether token was verified valid lately (no store read):
// such a token is verified without a rate limit on its look-up. Verify
// still decides whether it is valid now.
func (t *Tokens) Known(token string) bool {
	_, ok := t.recent.Get(sha256.Sum256([]byte(token)))
	return ok
}

// Invalidate drops cached verifications (call it on a token change).
func (t *Tokens) Invalidate() { t.cache.Clear() }

// Bypass drops cached verifications and, while on, keeps none: for when
// token changes cannot be heard.
func (t *Tokens) Bypass(on bool) { t.cache.Bypass(on) }

// Create makes and stores a token, returning the token string once.
func (t *Tokens) Create(ctx context.Context, by Principal, requestID string, role Role, description string) (string, store.Token, error) {
	if !role.Valid() {
		return "", store.Token{}, problem.Newf(problem.InvalidRequest, "unknown role %q: use admin, support, investigator or auditor", role)
	}
	if err := text.Check("description", description, 200); err != nil {
		return "", store.Token{}, err
	}
	token, rec := Mint(role, description, time.Now())
	a := store.AuditEntry{At: rec.CreatedAt, Actor: by.TokenID, Action: "token.create", Target: rec.ID, Detail: fmt.Sprintf(`{"role":%q}`, role), RequestID: requestID}
	if err := t.st.CreateToken(ctx, rec, a); err != nil {
		return "", store.Token{}, fmt.Errorf("create token: %w", err)
	}
	return token, rec, nil
}

// Revoke revokes a token by id.
func (t *Tokens) Revoke(ctx context.Context, by Principal, requestID, id string) (store.Token, error) {
	a := store.AuditEntry{At: time.Now().UTC(), Actor: by.TokenID, Action: "token.revoke", Target: id, Detail: "{}", RequestID: requestID}
	rec, err := t.st.RevokeToken(ctx, id, time.Now().UTC(), a)
	if errors.Is(err, store.ErrNotFound) {
		return rec, problem.Newf(problem.TokenNotFound, "no token %q", id)
	}
	// The store keeps the last valid admin token: without one, nobody
	// could create tokens again (the bootstrap token is made only once).
	if errors.Is(err, store.ErrLastAdmin) {
		return rec, problem.Newf(problem.Conflict, "token %s is the last valid admin token: create another (echt admin token create --role admin), then revoke this one", id).
			With("hint", "create another admin token first (echt admin token create --role admin), then revoke this one")
	}
	t.Invalidate()
	return rec, err
}

// List returns all tokens (hashes stay in the store record; callers must
// not show them).
func (t *Tokens) List(ctx context.Context) ([]store.Token, error) { return t.st.Tokens(ctx) }

// Fingerprint is a short non-secret label of a token for logs.
func Fingerprint(token string) string {
	if id, ok := parse(token); ok {
		return id
	}
	h := sha256.Sum256([]byte(token))
	return "invalid:" + hex.EncodeToString(h[:4])
}
