package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MasterKeySize is the size of the key-encryption key.
const MasterKeySize = 32

// ErrWrongMasterKey means sealed data does not open with the given master
// key: most likely the node was started with another master key.
var ErrWrongMasterKey = errors.New("the master key does not open the keyring (is it the same --master-key-file / ECHT_MASTER_KEY the database was created with?)")

// MasterKey is the key-encryption key: it seals private keys and secrets
// before they reach the store (AES-256-GCM, the secret's name as
// associated data, so a sealed value cannot be moved to another name).
type MasterKey struct {
	aead cipher.AEAD
}

// GenerateMasterKey returns 32 random bytes as standard base64.
func GenerateMasterKey() string {
	b := make([]byte, MasterKeySize)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// ParseMasterKey parses standard base64 of exactly 32 bytes (surrounding
// white space is ignored).
func ParseMasterKey(s string) (*MasterKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("master key: not standard base64 (%v): give the installation's 32-byte key in standard base64, as made by: head -c 32 /dev/urandom | base64", err)
	}
	if len(b) != MasterKeySize {
		return nil, fmt.Errorf("master key: %d bytes, want %d (generate one with: head -c 32 /dev/urandom | base64)", len(b), MasterKeySize)
	}
	block, err := aes.NewCipher(b)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &MasterKey{aead: aead}, nil
}

// String never reveals the key.
func (m *MasterKey) String() string { return "keyring.MasterKey(redacted)" }

// GoString never reveals the key.
func (m *MasterKey) GoString() string { return m.String() }

const sealVersion = 1

// Seal encrypts plaintext for the named purpose.
func (m *MasterKey) Seal(name string, plaintext []byte) []byte {
	nonce := make([]byte, m.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := append([]byte{sealVersion}, nonce...)
	return m.aead.Seal(out, nonce, plaintext, []byte("echt-sealed/"+name))
}

// Open decrypts what Seal made for the same name.
func (m *MasterKey) Open(name string, sealed []byte) ([]byte, error) {
	ns := m.aead.NonceSize()
	if len(sealed) < 1+ns+m.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("open %s: malformed sealed value", name)
	}
	pt, err := m.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte("echt-sealed/"+name))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, ErrWrongMasterKey)
	}
	return pt, nil
}
