// Package keyring holds the publisher's secrets on a server node: the root
// and signing keys, the product-key secret, all sealed at rest with the
// master key and kept in the store, so that every node of a deployment
// shares them and no node keeps state of its own.
package keyring

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/internal/signing"
	"github.com/echt-dev/echt/internal/store"
)

// Names of sealed secrets in the store.
const (
	SecretProductKey = "product-key-secret"
	SecretPages      = "pages-secret"
)

// Store is what the keyring needs from the store.
type Store interface {
	Secret(ctx context.Context, name string) ([]byte, error)
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	RotateSigningKey(ctx context.Context, k store.SigningKey, a store.AuditEntry) error
}

// Keyring is the loaded keyring of a node. It is safe for concurrent use.
type Keyring struct {
	master *MasterKey
	root   *signing.Root
	keySec *productkey.Secret
	pages  []byte

	mu     sync.RWMutex
	signer *signing.Signer
	public []PublicKey
}

// PublicKey describes a key for /v1/signing-keys.
type PublicKey struct {
	KeyID       string    `json:"kid"`
	Role        string    `json:"role"`
	PublicKey   []byte    `json:"public_key"`
	Certificate []byte    `json:"certificate,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
}

// Initial makes the content of a new database: a root key, a first signing
// key, the product-key secret and the pages secret, all sealed.
func Initial(master *MasterKey, now time.Time) (map[string][]byte, []store.SigningKey, error) {
	root, err := signing.GenerateRoot(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	signer, err := root.NewSigner(rand.Reader, now)
	if err != nil {
		return nil, nil, err
	}
	secret := make([]byte, productkey.SecretSize)
	pages := make([]byte, 32)
	_, _ = rand.Read(secret)
	_, _ = rand.Read(pages)
	secrets := map[string][]byte{
		SecretProductKey: master.Seal(SecretProductKey, secret),
		SecretPages:      master.Seal(SecretPages, pages),
	}
	keys := []store.SigningKey{
		{ID: root.KeyID(), Role: store.RoleRoot, PublicKey: root.Public(), PrivateKey: master.Seal("key/"+root.KeyID(), root.Seed()), CreatedAt: now},
		sealSigner(master, signer, now.Add(time.Millisecond)),
	}
	return secrets, keys, nil
}

func sealSigner(master *MasterKey, s *signing.Signer, now time.Time) store.SigningKey {
	return store.SigningKey{ID: s.KeyID(), Role: store.RoleSigning, PublicKey: s.Public(), PrivateKey: master.Seal("key/"+s.KeyID(), s.Seed()), Certificate: s.Certificate(), CreatedAt: now}
}

// Load reads and opens the keyring from the store.
func Load(ctx context.Context, st Store, master *MasterKey) (*Keyring, error) {
	k := &Keyring{master: master}
	sealed, err := st.Secret(ctx, SecretProductKey)
	if err != nil {
		return nil, fmt.Errorf("load keyring: %w", err)
	}
	raw, err := master.Open(SecretProductKey, sealed)
	if err != nil {
		return nil, fmt.Errorf("load keyring: %w", err)
	}
	if k.keySec, err = productkey.NewSecret(raw); err != nil {
		return nil, fmt.Errorf("load keyring: %w", err)
	}
	if sealed, err = st.Secret(ctx, SecretPages); err != nil {
		return nil, fmt.Errorf("load keyring: %w", err)
	}
	if k.pages, err = master.Open(SecretPages, sealed); err != nil {
		return nil, fmt.Errorf("load keyring: %w", err)
	}
	if err := k.Reload(ctx, st); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload re-reads the signing keys (after a rotation on any node).
func (k *Keyring) Reload(ctx context.Context, st Store) error {
	keys, err := st.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	var root *signing.Root
	var signer *signing.Signer
	public := make([]PublicKey, 0, len(keys))
	for _, sk := range keys {
		public = append(public, PublicKey{KeyID: sk.ID, Role: sk.Role, PublicKey: sk.PublicKey, Certificate: sk.Certificate, CreatedAt: sk.CreatedAt, RetiredAt: sk.RetiredAt})
		switch {
		case sk.Role == store.RoleRoot && root == nil:
			seed, err := k.master.Open("key/"+sk.ID, sk.PrivateKey)
			if err != nil {
				return fmt.Errorf("load root key: %w", err)
			}
			if root, err = signing.RootFromSeed(seed); err != nil {
				return err
			}
		case sk.Role == store.RoleSigning && sk.RetiredAt.IsZero():
			seed, err := k.master.Open("key/"+sk.ID, sk.PrivateKey)
			if err != nil {
				return fmt.Errorf("load signing key: %w", err)
			}
			if signer, err = signing.SignerFromSeed(seed, sk.Certificate); err != nil {
				return err
			}
		}
	}
	if root == nil || signer == nil {
		return errors.New("load keyring: the store has no root key or no active signing key")
	}
	sort.SliceStable(public, func(i, j int) bool { return public[i].CreatedAt.Before(public[j].CreatedAt) })
	k.mu.Lock()
	k.root, k.signer, k.public = root, signer, public
	k.mu.Unlock()
	return nil
}

// Rotate makes a new signing key, certified by the root; the old one is
// retired: it signs nothing new, but what it signed still verifies.
func (k *Keyring) Rotate(ctx context.Context, st Store, a store.AuditEntry) (PublicKey, error) {
	now := time.Now().UTC().Truncate(time.Millisecond) // as the stores keep it
	k.mu.RLock()
	root := k.root
	k.mu.RUnlock()
	s, err := root.NewSigner(rand.Reader, now)
	if err != nil {
		return PublicKey{}, err
	}
	a.Target = s.KeyID()
	if err := st.RotateSigningKey(ctx, sealSigner(k.master, s, now), a); err != nil {
		return PublicKey{}, fmt.Errorf("rotate signing key: %w", err)
	}
	if err := k.Reload(ctx, st); err != nil {
		return PublicKey{}, err
	}
	return PublicKey{KeyID: s.KeyID(), Role: store.RoleSigning, PublicKey: s.Public(), Certificate: s.Certificate(), CreatedAt: now}, nil
}

// Signer returns the current signing key.
func (k *Keyring) Signer() *signing.Signer {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.signer
}

// RootPublic returns the root public key clients trust.
func (k *Keyring) RootPublic() ed25519.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.root.Public()
}

// PublicKeys lists the root and every signing key, oldest first.
func (k *Keyring) PublicKeys() []PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return append([]PublicKey(nil), k.public...)
}

// ProductKeys returns the product-key secret.
func (k *Keyring) ProductKeys() *productkey.Secret { return k.keySec }

// PagesSecret returns the secret that authenticates results-page links.
func (k *Keyring) PagesSecret() []byte { return k.pages }

// String never reveals secrets.
func (k *Keyring) String() string { return "keyring.Keyring(redacted)" }
