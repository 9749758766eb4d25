package httpapi_test

import (
	"encoding/base64"
	"testing"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/httpapi/httpapitest"
	"github.com/echt-dev/echt/internal/signing"
)

// The sign baseline signs whatever it is sent, for anyone: never with the
// publisher's key, or a fake server could have the real one sign a
// KEY_BLOCKED answer (or a deactivation) for the nonce a client sent it.
func TestBenchSignIsNotThePublishersSignature(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	body := []byte(`{"code":"KEY_BLOCKED","status":403}`)
	forged := string(api.ResponseMessage("client-nonce", api.RequestDigest("POST", "/v1/activations", []byte(`{}`)), 403, body))
	r := call(t, srv, "POST", "/v1/bench/sign", "", map[string]string{"message": forged})
	if r.status != 200 {
		t.Fatalf("bench/sign = %d %s", r.status, r.body)
	}
	sig, err := base64.StdEncoding.DecodeString(decode[map[string]string](t, r)["signature"])
	if err != nil || len(sig) != 64 {
		t.Fatalf("bench/sign signature %q: %v", r.body, err)
	}
	v := signing.NewVerifier(srv.Keyring.RootPublic())
	signer := srv.Keyring.Signer()
	for _, typ := range []string{signing.TypeResponse, signing.TypeLicense, signing.TypeVerdict} {
		if err := v.VerifyRaw(signer.CertificateEnvelope(), signer.KeyID(), typ, []byte(forged), sig); err == nil {
			t.Fatalf("a bench signature verifies as the publisher's %s", typ)
		}
	}
	// The check above is not vacuous: the publisher's own signature of
	// the same answer verifies.
	if err := v.VerifyRaw(signer.CertificateEnvelope(), signer.KeyID(), signing.TypeResponse, []byte(forged), signer.SignRaw(signing.TypeResponse, []byte(forged))); err != nil {
		t.Fatalf("the publisher's response signature does not verify: %v", err)
	}
}
