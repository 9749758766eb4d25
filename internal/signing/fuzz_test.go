package signing

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzVerify: no input panics the parser or the verifier, and nothing but
// an untouched envelope verifies.
func FuzzVerify(f *testing.F) {
	root, err := GenerateRoot(nil)
	if err != nil {
		f.Fatal(err)
	}
	s, _ := root.NewSigner(nil, time.Now())
	v := NewVerifier(root.Public())
	good, _ := json.Marshal(s.Sign(TypeLicense, []byte(`{"format":"echt-license/1"}`)))
	batch := s.signBatch(TypeLicense, [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	goodBatch, _ := json.Marshal(batch[2])
	f.Add(good)
	f.Add(goodBatch)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":"license","kid":"k_x","payload":"","sig":"AAAA","batch":{"index":99999,"path":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data)
		if err != nil {
			return
		}
		payload, err := v.Verify(e, TypeLicense)
		if err != nil {
			return
		}
		// Whatever verifies must be one of the documents we signed.
		if string(payload) != `{"format":"echt-license/1"}` && string(payload) != "a" && string(payload) != "b" && string(payload) != "c" {
			t.Fatalf("forged payload verified: %q", payload)
		}
	})
}
