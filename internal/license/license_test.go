package license

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/signing"
)

func setup(t testing.TB) (*signing.Signer, *signing.Verifier, *signing.Signer) {
	root, _ := signing.GenerateRoot(nil)
	s, _ := root.NewSigner(nil, time.Now())
	otherRoot, _ := signing.GenerateRoot(nil)
	o, _ := otherRoot.NewSigner(nil, time.Now())
	return s, signing.NewVerifier(root.Public()), o
}

func sample() License {
	return License{LicenseID: "lic_1", ActivationID: "act_1", Product: "photoedit", SKU: "pe", Edition: "Pro", Channel: "retail",
		PartialKey: "XXXXX-XXXXX-XXXXX-XXXXX-TQ3Y8", Hardware: hardware.Raw{SystemUUID: "u"}.Hash([]byte("s")), Tolerance: 4,
		IssuedAt: time.Now().UTC().Truncate(time.Millisecond), RevalidateAfter: time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)}
}

func TestSignVerify(t *testing.T) {
	s, v, other := setup(t)
	data, err := Sign(s, sample())
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := Verify(v, data)
	if err != nil || l.ActivationID != "act_1" || l.KeyID != s.KeyID() || l.Format != Format {
		t.Fatalf("Verify = %+v, %v", l, err)
	}
	// Another publisher's license is refused.
	foreign, _ := Sign(other, sample())
	if _, _, err := Verify(v, foreign); !errors.Is(err, signing.ErrUntrustedKey) {
		t.Fatalf("foreign license = %v", err)
	}
	// A payload naming another key id is refused.
	var env signing.Envelope
	json.Unmarshal(data, &env)
	var p map[string]any
	json.Unmarshal(env.Payload, &p)
	p["kid"] = "k_someoneelse"
	payload, _ := json.Marshal(p)
	relabeled, _ := json.Marshal(s.Sign(signing.TypeLicense, payload))
	if _, _, err := Verify(v, relabeled); !errors.Is(err, ErrKeyID) {
		t.Fatalf("other key id = %v", err)
	}
	// A changed byte is refused.
	env.Payload[10] ^= 1
	changed, _ := json.Marshal(env)
	if _, _, err := Verify(v, changed); err == nil {
		t.Fatal("changed license verified")
	}
	// Expiry.
	l.NotAfter = time.Now().Add(-time.Second)
	if !l.Expired(time.Now()) {
		t.Fatal("Expired = false past not_after")
	}
}

// FuzzVerify: license files from disk or the network never panic the
// verifier, and only the one signed license verifies.
func FuzzVerify(f *testing.F) {
	s, v, _ := setup(f)
	good, _ := Sign(s, sample())
	f.Add(good)
	f.Add([]byte(`{"type":"license"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, _, err := Verify(v, data)
		if err == nil && string(data) != string(good) {
			var a, b signing.Envelope
			json.Unmarshal(data, &a)
			json.Unmarshal(good, &b)
			if string(a.Payload) != string(b.Payload) {
				t.Fatalf("forged license verified: %+v", l)
			}
		}
		_, _ = Parse(data)
	})
}
