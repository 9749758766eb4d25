// Package signing is echt's Ed25519 signature format: signed envelopes and
// the two-level key hierarchy behind them.
//
// Trust model. The publisher's root key is the only trust anchor: clients
// (the SDK, the agent, download services) are configured with its public
// key. The root key signs nothing but signing-key certificates. Signing keys
// sign everything else (licenses, verdicts, tickets, responses), and every
// envelope carries the certificate of the key that signed it, so a client
// holding only the root public key verifies offline, and signing keys can be
// rotated without updating clients. Signatures are domain-separated by
// envelope type: a verdict cannot be replayed as a license.
//
// Roots and signing keys are different Go types; a root can never sign an
// envelope and a signing key can never certify another key.
package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Envelope types.
const (
	TypeLicense     = "license"
	TypeVerdict     = "verdict"
	TypeResponse    = "response"
	TypeCertificate = "signing-key"
	TypeManifest    = "manifest"
)

// Errors from Verify. They are wrapped; compare with errors.Is.
var (
	ErrMalformed    = errors.New("malformed signed document")
	ErrWrongType    = errors.New("signed document has the wrong type")
	ErrUntrustedKey = errors.New("signed by a key that is not trusted")
	ErrBadSignature = errors.New("signature does not verify")
	ErrWrongRole    = errors.New("key used outside its role")
)

var kidEnc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// KeyID returns the id of a public key: "k_" and 16 base32 characters of
// its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "k_" + kidEnc.EncodeToString(h[:10])
}

func message(typ string, payload []byte) []byte {
	m := appendMessagePrefix(make([]byte, 0, len("echt/")+len(typ)+3+len(payload)), typ)
	return append(m, payload...)
}

// appendMessagePrefix appends what a signed message of type typ starts
// with, before its payload.
func appendMessagePrefix(b []byte, typ string) []byte {
	b = append(b, "echt/"...)
	b = append(b, typ...)
	return append(b, "/1\n"...)
}

// Envelope is a signed document. Payload holds the exact signed bytes; the
// signature covers "echt/<type>/1\n" followed by them.
type Envelope struct {
	Type      string    `json:"type"`
	KeyID     string    `json:"kid"`
	Payload   []byte    `json:"payload"` // base64 in JSON
	Signature []byte    `json:"sig"`
	Cert      *Envelope `json:"cert,omitempty"`
	// Batch, if set, proves the payload is in a batch whose Merkle root
	// Signature signs (see BatchSigner).
	Batch *BatchProof `json:"batch,omitempty"`

	certJSON []byte // the certificate, encoded once by the Signer
}

// Certificate is the payload of a signing-key certificate.
type Certificate struct {
	KeyID     string    `json:"kid"`
	PublicKey []byte    `json:"public_key"`
	Role      string    `json:"role"`
	IssuedAt  time.Time `json:"issued_at"`
}

// Root is the publisher's root key. It only certifies signing keys.
type Root struct {
	priv ed25519.PrivateKey
	kid  string
}

// Signer is a signing key with its certificate.
type Signer struct {
	priv     ed25519.PrivateKey
	kid      string
	cert     *Envelope
	certJSON []byte
}

// GenerateRoot makes a new root key.
func GenerateRoot(r io.Reader) (*Root, error) {
	if r == nil {
		r = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("generate root key: %w", err)
	}
	return &Root{priv: priv, kid: KeyID(pub)}, nil
}

// RootFromSeed restores a root key from its 32-byte seed.
func RootFromSeed(seed []byte) (*Root, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("root key: seed has %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Root{priv: priv, kid: KeyID(priv.Public().(ed25519.PublicKey))}, nil
}

// Seed returns the private seed, to be sealed before storage.
func (r *Root) Seed() []byte { return bytes.Clone(r.priv.Seed()) }

// KeyID returns the root's key id.
func (r *Root) KeyID() string { return r.kid }

// Public returns the root public key.
func (r *Root) Public() ed25519.PublicKey { return r.priv.Public().(ed25519.PublicKey) }

// String never reveals the key.
func (r *Root) String() string { return "signing.Root(" + r.kid + ")" }

// GoString never reveals the key.
func (r *Root) GoString() string { return r.String() }

// NewSigner makes a new signing key certified by the root.
func (r *Root) NewSigner(rnd io.Reader, now time.Time) (*Signer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	_, priv, err := ed25519.GenerateKey(rnd)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	cert, err := r.Certify(priv.Public().(ed25519.PublicKey), now)
	if err != nil {
		return nil, err
	}
	return newSigner(priv, cert), nil
}

func newSigner(priv ed25519.PrivateKey, cert *Envelope) *Signer {
	s := &Signer{priv: priv, kid: KeyID(priv.Public().(ed25519.PublicKey)), cert: cert}
	s.certJSON, _ = cert.MarshalJSON()
	return s
}

// Certify signs a certificate for a signing public key.
func (r *Root) Certify(pub ed25519.PublicKey, now time.Time) (*Envelope, error) {
	c := Certificate{KeyID: KeyID(pub), PublicKey: pub, Role: "signing", IssuedAt: now.UTC().Truncate(time.Second)}
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return &Envelope{Type: TypeCertificate, KeyID: r.kid, Payload: payload, Signature: ed25519.Sign(r.priv, message(TypeCertificate, payload))}, nil
}

// SignerFromSeed restores a signing key from its seed and certificate.
func SignerFromSeed(seed, cert []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key: seed has %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	var env Envelope
	if err := json.Unmarshal(cert, &env); err != nil {
		return nil, fmt.Errorf("signing key certificate: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	kid := KeyID(priv.Public().(ed25519.PublicKey))
	var c Certificate
	if err := json.Unmarshal(env.Payload, &c); err != nil || c.KeyID != kid {
		return nil, fmt.Errorf("signing key certificate does not match key %s", kid)
	}
	return newSigner(priv, &env), nil
}

// Seed returns the private seed, to be sealed before storage.
func (s *Signer) Seed() []byte { return bytes.Clone(s.priv.Seed()) }

// KeyID returns the signing key's id.
func (s *Signer) KeyID() string { return s.kid }

// Public returns the signing public key.
func (s *Signer) Public() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// Certificate returns the root-signed certificate as JSON.
func (s *Signer) Certificate() []byte { return append([]byte(nil), s.certJSON...) }

// CertificateEnvelope returns the certificate.
func (s *Signer) CertificateEnvelope() *Envelope { c := *s.cert; return &c }

// String never reveals the key.
func (s *Signer) String() string { return "signing.Signer(" + s.kid + ")" }

// GoString never reveals the key.
func (s *Signer) GoString() string { return s.String() }

// Sign returns an envelope of type typ over payload, with the certificate.
func (s *Signer) Sign(typ string, payload []byte) *Envelope {
	return &Envelope{Type: typ, KeyID: s.kid, Payload: payload, Signature: ed25519.Sign(s.priv, message(typ, payload)), Cert: s.cert, certJSON: s.certJSON}
}

// SignRaw signs a message of type typ without building an envelope, for
// detached signatures such as response headers.
func (s *Signer) SignRaw(typ string, payload []byte) []byte {
	return ed25519.Sign(s.priv, message(typ, payload))
}

// Verifier checks envelopes against a set of trusted root keys. It caches
// verified certificates; it is safe for concurrent use.
type Verifier struct {
	roots map[string]ed25519.PublicKey
	mu    sync.RWMutex
	certs map[[32]byte]ed25519.PublicKey // hash of cert envelope -> signing key
}

// NewVerifier trusts the given root public keys.
func NewVerifier(roots ...ed25519.PublicKey) *Verifier {
	v := &Verifier{roots: map[string]ed25519.PublicKey{}, certs: map[[32]byte]ed25519.PublicKey{}}
	for _, r := range roots {
		if len(r) == ed25519.PublicKeySize {
			v.roots[KeyID(r)] = bytes.Clone(r)
		}
	}
	return v
}

// Roots returns the ids of the trusted roots.
func (v *Verifier) Roots() []string {
	out := make([]string, 0, len(v.roots))
	for id := range v.roots {
		out = append(out, id)
	}
	return out
}

// Parse decodes an envelope from JSON, bounding its size.
func Parse(data []byte) (*Envelope, error) {
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("%w: too large", ErrMalformed)
	}
	var e Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.Type == "" || e.KeyID == "" || len(e.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: missing type, key id or signature", ErrMalformed)
	}
	return &e, nil
}

// SignerKey returns the verified signing key of an envelope's certificate.
func (v *Verifier) SignerKey(e *Envelope) (ed25519.PublicKey, error) {
	if e.Cert == nil {
		if _, isRoot := v.roots[e.KeyID]; isRoot {
			return nil, fmt.Errorf("%w: a root key signed a %s directly", ErrWrongRole, e.Type)
		}
		return nil, fmt.Errorf("%w: no certificate for key %s", ErrUntrustedKey, e.KeyID)
	}
	certBytes, _ := json.Marshal(e.Cert)
	h := sha256.Sum256(certBytes)
	v.mu.RLock()
	pub, ok := v.certs[h]
	v.mu.RUnlock()
	if !ok {
		c := e.Cert
		if c.Type != TypeCertificate {
			return nil, fmt.Errorf("%w: certificate has type %q", ErrWrongType, c.Type)
		}
		root, ok := v.roots[c.KeyID]
		if !ok {
			return nil, fmt.Errorf("%w: certificate signed by %s", ErrUntrustedKey, c.KeyID)
		}
		if !ed25519.Verify(root, message(TypeCertificate, c.Payload), c.Signature) {
			return nil, fmt.Errorf("%w: certificate", ErrBadSignature)
		}
		var cert Certificate
		if err := json.Unmarshal(c.Payload, &cert); err != nil || len(cert.PublicKey) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: certificate payload", ErrMalformed)
		}
		if cert.Role != "signing" {
			return nil, fmt.Errorf("%w: certificate role %q", ErrWrongRole, cert.Role)
		}
		if KeyID(cert.PublicKey) != cert.KeyID {
			return nil, fmt.Errorf("%w: certificate key id", ErrMalformed)
		}
		pub = ed25519.PublicKey(cert.PublicKey)
		v.mu.Lock()
		if len(v.certs) > 1024 {
			clear(v.certs)
		}
		v.certs[h] = pub
		v.mu.Unlock()
	}
	if KeyID(pub) != e.KeyID {
		return nil, fmt.Errorf("%w: envelope key %s is not the certified key", ErrUntrustedKey, e.KeyID)
	}
	return pub, nil
}

// Verify checks that e is of type typ and signed by a key certified by a
// trusted root, and returns the signed payload.
func (v *Verifier) Verify(e *Envelope, typ string) ([]byte, error) {
	if e == nil {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if e.Type != typ {
		return nil, fmt.Errorf("%w: %q, want %q", ErrWrongType, e.Type, typ)
	}
	if typ == TypeCertificate {
		return nil, fmt.Errorf("%w: certificates are verified by SignerKey", ErrWrongRole)
	}
	pub, err := v.SignerKey(e)
	if err != nil {
		return nil, err
	}
	var signed []byte
	if e.Batch != nil {
		root, err := rootOf(leafHash(typ, e.Payload), e.Batch)
		if err != nil {
			return nil, err
		}
		signed = batchMessage(root)
	} else {
		signed = message(typ, e.Payload)
	}
	if !ed25519.Verify(pub, signed, e.Signature) {
		return nil, ErrBadSignature
	}
	return e.Payload, nil
}

// VerifyRaw checks a detached signature made by SignRaw with the key
// certified by cert.
func (v *Verifier) VerifyRaw(cert *Envelope, kid, typ string, payload, sig []byte) error {
	pub, err := v.SignerKey(&Envelope{Type: typ, KeyID: kid, Cert: cert})
	if err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, message(typ, payload), sig) {
		return ErrBadSignature
	}
	return nil
}

// EncodePublicKey renders a public key as standard base64 (how users paste
// the root key into configuration).
func EncodePublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// DecodePublicKey parses a base64 (standard or URL) Ed25519 public key.
func DecodePublicKey(s string) (ed25519.PublicKey, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, fmt.Errorf("not a base64 Ed25519 public key")
}
