package echt_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"github.com/echt-dev/echt"
)

// FuzzSignatureHeader feeds the SDK's parser of a server's Echt-Signature
// header (outside input, a fake server's too) arbitrary text: it never
// panics, and what it accepts is a key id and a whole Ed25519 signature.
func FuzzSignatureHeader(f *testing.F) {
	f.Add("kid=k1, sig=" + base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize)))
	f.Add(`kid="k1", sig="AAAA"`)
	f.Add(`,,,=,kid=,sig=`)
	f.Fuzz(func(t *testing.T, h string) {
		kid, sig, ok := echt.ParseSignatureHeader(h)
		if ok && (kid == "" || len(sig) != ed25519.SignatureSize) {
			t.Fatalf("ParseSignatureHeader(%q) accepted kid %q and a %d-byte signature", h, kid, len(sig))
		}
	})
}
