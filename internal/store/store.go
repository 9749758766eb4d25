// Package store defines what echt keeps and the contract every storage
// backend fulfils: the Store interface, its records and its errors. The
// implementations live below it (sqlite, postgres); storetest holds the one
// conformance suite both run.
//
// Contract, in short:
//   - A method returns only after its writes are durable (committed and, for
//     SQLite, synced): an acknowledged write survives a crash.
//   - Writes that belong together (a change and its audit entry) commit in
//     one transaction.
//   - Activate runs its decision inside the transaction that holds the key's
//     row lock, so seat limits hold across goroutines and across nodes.
//   - Errors wrap ErrNotFound, ErrExists, ErrUnavailable or ErrExhausted
//     where those apply; anything else is an internal error.
//   - Time is kept with millisecond precision, in UTC.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors the store reports; they are wrapped, compare with errors.Is.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrUnavailable = errors.New("store unavailable")
	ErrExhausted   = errors.New("exhausted")
	ErrClosed      = errors.New("store closed")
	// ErrLastAdmin: RevokeToken refuses the last valid token with the
	// role "admin" (nothing could make tokens again).
	ErrLastAdmin = errors.New("the last valid admin token")
	// ErrSchemaNewer means the database was migrated by a newer echt: this
	// one would write rows that version does not expect.
	ErrSchemaNewer = errors.New("the database's schema is newer than this echt")
)

// Store is everything persistent.
type Store interface {
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases resources; pending writes finish first.
	Close() error
	// Watch calls fn, on its own goroutine, for every change committed
	// through any node (in-process for SQLite, LISTEN/NOTIFY for
	// PostgreSQL) to records that nodes cache. It returns when ctx ends.
	// A store whose changes come over a connection reports ChangeWatchDown
	// while it cannot hear them (at first, and whenever the connection is
	// lost: caches must then not be used), and ChangeAll followed by
	// ChangeWatchUp when it hears them again.
	Watch(ctx context.Context, fn func(Change)) error

	// Bootstrap writes the initial secrets, keys and admin token in one
	// transaction if the database is not initialised yet. It reports
	// whether it did; exactly one caller ever gets true.
	Bootstrap(ctx context.Context, b Bootstrap) (bool, error)
	// Secret returns a sealed secret by name.
	Secret(ctx context.Context, name string) ([]byte, error)
	// PutSecret stores a sealed secret unless one with that name exists.
	PutSecret(ctx context.Context, name string, value []byte) error
	// SigningKeys returns every root and signing key, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// RotateSigningKey retires the current signing keys and adds k.
	RotateSigningKey(ctx context.Context, k SigningKey, a AuditEntry) error

	CreateToken(ctx context.Context, t Token, a AuditEntry) error
	Token(ctx context.Context, id string) (Token, error)
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken revokes a token (again: no change). It refuses the last
	// valid admin token with ErrLastAdmin, checked in the same
	// transaction, so concurrent revocations cannot leave none.
	RevokeToken(ctx context.Context, id string, at time.Time, a AuditEntry) (Token, error)

	CreateProduct(ctx context.Context, p Product, a AuditEntry) error
	Product(ctx context.Context, id string) (Product, error)
	Products(ctx context.Context) ([]Product, error)
	// CreateSKU stores s and assigns it the next free key group, which it
	// returns in the stored SKU.
	CreateSKU(ctx context.Context, s SKU, a AuditEntry) (SKU, error)
	SKU(ctx context.Context, id string) (SKU, error)
	SKUByGroup(ctx context.Context, group uint16) (SKU, error)
	SKUs(ctx context.Context) ([]SKU, error)

	// ReserveSerials hands out n consecutive unused serials of a SKU's key
	// group and returns the first. ErrExhausted when fewer than n remain
	// below max (inclusive).
	ReserveSerials(ctx context.Context, skuID string, n int, max uint32) (uint32, error)
	// InsertKeys stores a batch of keys and its audit entry atomically.
	InsertKeys(ctx context.Context, keys []Key, a AuditEntry) error
	Key(ctx context.Context, hash []byte) (Key, error)
	// SetKeyBlocked blocks (or unblocks) a key and returns it.
	SetKeyBlocked(ctx context.Context, hash []byte, blocked bool, reason string, at time.Time, a AuditEntry) (Key, error)

	AppendAudit(ctx context.Context, a AuditEntry) error
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)

	// Activate locks the key row, loads the candidate activations — every
	// active activation of the key's product that shares an anchor with
	// anchors, made with this key or another — and calls decide inside the
	// transaction. decide must be fast and pure: it may be called again if
	// the transaction is retried.
	Activate(ctx context.Context, keyHash []byte, anchors [][]byte, decide DecideFunc) (Activation, bool, error)
	Activation(ctx context.Context, id string) (Activation, error)
	ActivationsByKey(ctx context.Context, keyHash []byte) ([]Activation, error)
	// ActivationsByAnchors returns the active activations of a product
	// that share at least one anchor with anchors.
	ActivationsByAnchors(ctx context.Context, productID string, anchors [][]byte) ([]Activation, error)
	// EndActivation moves an active activation to status (deactivated or
	// revoked) after check approves it, and frees its seat.
	EndActivation(ctx context.Context, id string, status string, reason string, at time.Time, check func(Activation) error, a *AuditEntry) (Activation, error)
	// ExpireActivations ends, in one transaction, up to limit active
	// activations whose NotAfter is set and not after now: status
	// deactivated, end reason EndReasonExpired, ended at now, seats freed,
	// each change reported through Watch as EndActivation reports it. It
	// returns how many it ended; to sweep everything, call it again while
	// it returns limit. With several nodes on one database one sweeps at a
	// time: while another sweeps, it returns 0 at once.
	ExpireActivations(ctx context.Context, now time.Time, limit int) (int, error)

	// RecordFeedback counts one "Was this helpful?" answer for a help page.
	RecordFeedback(ctx context.Context, page, lang string, helpful bool) error
	// Feedback returns the answers per page and language.
	Feedback(ctx context.Context) ([]FeedbackCount, error)
}

// FeedbackCount is how often a help page was found helpful, or not.
type FeedbackCount struct {
	Page string
	Lang string
	Yes  int64
	No   int64
}

// DecideFunc is the activation rule run inside the store's transaction.
// It sees the locked key and its candidate activations and returns either
// the id of an existing activation to hand out again, a new activation to
// insert, or an error (nothing is written). It must not modify what it is
// given (the key's hash may be a store's own copy).
type DecideFunc func(k Key, candidates []Activation) (Decision, error)

// Decision is what DecideFunc asks the store to do.
type Decision struct {
	Existing string      // id of an active candidate to return
	New      *Activation // inserted when Existing is empty
	// Release, with New, is an active candidate of the same key that the
	// new activation takes the place of: the store ends it (deactivated,
	// EndReasonHardwareChanged, at New's creation) in the same
	// transaction, so its seat passes to New and to nothing else. The
	// decision counts the seat as free already.
	Release string
}

// Change names a record that changed, for cache invalidation.
type Change struct {
	Kind string // "key", "activation", "token", "signing_key", "sku", "product"
	ID   string // id, or the hex of a key hash
}

// Change kinds.
const (
	ChangeKey        = "key"
	ChangeActivation = "activation"
	ChangeToken      = "token"
	ChangeSigningKey = "signing_key"
	ChangeSKU        = "sku"
	ChangeProduct    = "product"
	// ChangeAll means changes may have gone unreported: drop every cache.
	ChangeAll = "all"
	// ChangeWatchDown and ChangeWatchUp bracket a time when changes cannot
	// be heard: caches must not be read or filled in between.
	ChangeWatchDown = "watch_down"
	ChangeWatchUp   = "watch_up"
)

// Bootstrap is the initial content of an empty database.
type Bootstrap struct {
	Secrets     map[string][]byte
	SigningKeys []SigningKey
	Token       Token
	Audit       AuditEntry
}

// SigningKey roles.
const (
	RoleRoot    = "root"
	RoleSigning = "signing"
)

// SigningKey is an Ed25519 key of the publisher's keyring. PrivateKey is
// sealed with the master key; the store never sees it in clear.
type SigningKey struct {
	ID          string
	Role        string
	PublicKey   []byte
	PrivateKey  []byte
	Certificate []byte // for signing keys: the root's signed statement
	CreatedAt   time.Time
	RetiredAt   time.Time // zero while the key signs
}

// Token is an admin API token; only its hash is kept.
type Token struct {
	ID          string
	Hash        []byte
	Role        string
	Description string
	CreatedAt   time.Time
	RevokedAt   time.Time // zero while valid
}

// Product is something a publisher sells.
type Product struct {
	ID           string
	Name         string
	HardwareSalt []byte // public; clients hash components with it
	CreatedAt    time.Time
}

// Policy is the licensing policy of a SKU. Zero values are defaults chosen
// by the catalog package.
type Policy struct {
	MaxDevices      int `json:"max_devices"`
	ValidDays       int `json:"valid_days"`
	GraceDays       int `json:"grace_days"`
	Tolerance       int `json:"tolerance"`
	RevalidateHours int `json:"revalidate_hours"`
	ReminderMinutes int `json:"reminder_minutes"`
	EscalateDays    int `json:"escalate_days"`
}

// SKU is a product + edition + channel + policy, with its key group.
type SKU struct {
	ID           string
	ProductID    string
	Edition      string
	Channel      string
	Policy       Policy
	Entitlements []string
	Group        uint16
	NextSerial   uint32
	CreatedAt    time.Time
}

// Key is a product key as stored: its keyed hash, never the key.
type Key struct {
	Hash        []byte
	SKUID       string
	LastGroup   string
	Blocked     bool
	BlockReason string
	BlockedAt   time.Time
	CreatedAt   time.Time
	// ActiveActivations counts activations in status active; Activations
	// counts every activation ever made with the key.
	ActiveActivations int
	Activations       int
	// NotAfter ends the validity of every activation of the key; it is set
	// by the first activation that has one (subscriptions, trials).
	NotAfter time.Time
}

// Activation statuses.
const (
	StatusActive      = "active"
	StatusDeactivated = "deactivated"
	StatusRevoked     = "revoked"
)

// EndReasonExpired is the end reason of activations ended by
// ExpireActivations because their validity (NotAfter) passed.
const EndReasonExpired = "expired"

// EndReasonHardwareChanged is the end reason of an activation whose device
// changed too much and activated again with the same key (Decision.Release).
const EndReasonHardwareChanged = "hardware changed: activated again on this device"

// Activation binds a key to a device's hardware profile.
type Activation struct {
	ID        string
	KeyHash   []byte
	SKUID     string
	ProductID string
	LastGroup string
	// Profile is the device's hashed hardware profile (opaque JSON).
	Profile []byte
	// Anchors are the identifying component hashes, indexed per product.
	Anchors   [][]byte
	Status    string
	CreatedAt time.Time
	NotAfter  time.Time // zero: perpetual
	EndedAt   time.Time
	EndReason string
	// PriorID is an older active activation of the same product on the
	// same device made with another key (the "repair" case), if any.
	PriorID string
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	Seq       int64 // assigned by the store
	At        time.Time
	Actor     string // token id, or "system"
	Action    string // for example "product.create"
	Target    string
	Detail    string // JSON object
	RequestID string
}

// AuditQuery selects audit entries after a sequence number.
type AuditQuery struct {
	AfterSeq int64
	Limit    int // 0: 100
	Action   string
}

// Millis converts t to Unix milliseconds; the zero time is 0.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMillis converts Unix milliseconds to a UTC time; 0 is the zero time.
func FromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
