package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func setup(t *testing.T) (*Root, *Signer) {
	t.Helper()
	root, err := GenerateRoot(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := root.NewSigner(nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return root, s
}

func roundTrip(t *testing.T, e *Envelope) *Envelope {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	return got
}

func TestVerify(t *testing.T) {
	root, s := setup(t)
	otherRoot, otherSigner := setup(t)
	v := NewVerifier(root.Public())
	payload := []byte(`{"license":"x"}`)

	if got, err := v.Verify(roundTrip(t, s.Sign(TypeLicense, payload)), TypeLicense); err != nil || string(got) != string(payload) {
		t.Fatalf("Verify(good) = %q, %v", got, err)
	}

	tampered := roundTrip(t, s.Sign(TypeLicense, payload))
	tampered.Payload[3] ^= 1
	wrongType := roundTrip(t, s.Sign(TypeVerdict, payload))
	relabeled := roundTrip(t, s.Sign(TypeVerdict, payload))
	relabeled.Type = TypeLicense
	otherKey := roundTrip(t, otherSigner.Sign(TypeLicense, payload))
	swappedCert := roundTrip(t, otherSigner.Sign(TypeLicense, payload))
	swappedCert.Cert = s.CertificateEnvelope()
	// A root signing a license directly is the wrong role.
	rootSigned := &Envelope{Type: TypeLicense, KeyID: root.KeyID(), Payload: payload, Signature: ed25519.Sign(root.priv, message(TypeLicense, payload))}
	// A signing key certifying another key is the wrong role.
	_, rogue, _ := ed25519.GenerateKey(rand.Reader)
	rogueCert := *s.Sign(TypeCertificate, mustJSON(Certificate{KeyID: KeyID(rogue.Public().(ed25519.PublicKey)), PublicKey: rogue.Public().(ed25519.PublicKey), Role: "signing"}))
	rogueCert.Cert = nil
	rogueEnv := &Envelope{Type: TypeLicense, KeyID: KeyID(rogue.Public().(ed25519.PublicKey)), Payload: payload, Signature: ed25519.Sign(rogue, message(TypeLicense, payload)), Cert: &rogueCert}
	// A certificate claiming the root role.
	rootRoleCert := &Envelope{Type: TypeCertificate, KeyID: root.KeyID(), Payload: mustJSON(Certificate{KeyID: KeyID(rogue.Public().(ed25519.PublicKey)), PublicKey: rogue.Public().(ed25519.PublicKey), Role: "root"})}
	rootRoleCert.Signature = ed25519.Sign(root.priv, message(TypeCertificate, rootRoleCert.Payload))
	rootRole := &Envelope{Type: TypeLicense, KeyID: KeyID(rogue.Public().(ed25519.PublicKey)), Payload: payload, Signature: ed25519.Sign(rogue, message(TypeLicense, payload)), Cert: rootRoleCert}

	tests := []struct {
		name string
		env  *Envelope
		want error
	}{
		{"tampered payload", tampered, ErrBadSignature},
		{"wrong type", wrongType, ErrWrongType},
		{"relabeled type", relabeled, ErrBadSignature},
		{"untrusted root", otherKey, ErrUntrustedKey},
		{"certificate of another key", swappedCert, ErrUntrustedKey},
		{"root signs directly", rootSigned, ErrWrongRole},
		{"signing key certifies a key", rogueEnv, ErrUntrustedKey},
		{"certificate with root role", rootRole, ErrWrongRole},
	}
	for _, tt := range tests {
		if _, err := v.Verify(tt.env, TypeLicense); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
	_ = otherRoot
}

func TestRotationKeepsOldSignaturesValid(t *testing.T) {
	root, s1 := setup(t)
	s2, err := root.NewSigner(nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(root.Public())
	for _, s := range []*Signer{s1, s2} {
		if _, err := v.Verify(roundTrip(t, s.Sign(TypeLicense, []byte("p"))), TypeLicense); err != nil {
			t.Errorf("Verify(signed by %s) = %v", s.KeyID(), err)
		}
	}
}

func TestRestore(t *testing.T) {
	root, s := setup(t)
	r2, err := RootFromSeed(root.Seed())
	if err != nil || r2.KeyID() != root.KeyID() {
		t.Fatalf("RootFromSeed = %v, %v", r2, err)
	}
	s2, err := SignerFromSeed(s.Seed(), s.Certificate())
	if err != nil || s2.KeyID() != s.KeyID() {
		t.Fatalf("SignerFromSeed = %v, %v", s2, err)
	}
	_, other := setup(t)
	if _, err := SignerFromSeed(s.Seed(), other.Certificate()); err == nil {
		t.Fatal("SignerFromSeed accepted another key's certificate")
	}
}

func TestKeysNeverPrint(t *testing.T) {
	root, s := setup(t)
	for _, v := range []any{root, s} {
		for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(f, v)
			if strings.Contains(out, string(root.Seed())) || strings.Contains(out, fmt.Sprint(s.priv)) {
				t.Errorf("Sprintf(%q) reveals key material: %s", f, out)
			}
		}
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }
