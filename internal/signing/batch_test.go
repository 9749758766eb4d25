package signing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestBatchSignatures(t *testing.T) {
	root, s := setup(t)
	v := NewVerifier(root.Public())
	for _, n := range []int{2, 3, 5, 8, 17} {
		var payloads [][]byte
		for i := range n {
			payloads = append(payloads, []byte(fmt.Sprintf(`{"n":%d}`, i)))
		}
		envs := s.signBatch(TypeVerdict, payloads)
		for i, e := range envs {
			got, err := v.Verify(roundTrip(t, e), TypeVerdict)
			if err != nil || string(got) != string(payloads[i]) {
				t.Fatalf("n=%d i=%d: Verify = %q, %v", n, i, got, err)
			}
		}
		// Another member's payload, index or path does not verify.
		a, b := roundTrip(t, envs[0]), roundTrip(t, envs[1])
		a.Payload = b.Payload
		if _, err := v.Verify(a, TypeVerdict); !errors.Is(err, ErrBadSignature) {
			t.Errorf("n=%d: swapped payload = %v", n, err)
		}
		c := roundTrip(t, envs[n-1])
		c.Batch.Index ^= 1
		if _, err := v.Verify(c, TypeVerdict); err == nil {
			t.Errorf("n=%d: changed index verified", n)
		}
		d := roundTrip(t, envs[0])
		d.Batch.Path[0][0] ^= 1
		if _, err := v.Verify(d, TypeVerdict); !errors.Is(err, ErrBadSignature) {
			t.Errorf("n=%d: changed path = %v", n, err)
		}
		// Verified as another type, it fails.
		if _, err := v.Verify(roundTrip(t, envs[0]), TypeLicense); err == nil {
			t.Errorf("n=%d: batch envelope verified as another type", n)
		}
		e := roundTrip(t, envs[0])
		e.Type = TypeLicense
		if _, err := v.Verify(e, TypeLicense); !errors.Is(err, ErrBadSignature) {
			t.Errorf("n=%d: relabeled batch envelope = %v", n, err)
		}
	}
}

func TestBatchSignerConcurrent(t *testing.T) {
	root, s := setup(t)
	v := NewVerifier(root.Public())
	b := NewBatchSigner(func() *Signer { return s }, 2)
	defer b.Close()
	var wg sync.WaitGroup
	for i := range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			typ := TypeVerdict
			if i%3 == 0 {
				typ = TypeLicense
			}
			p := []byte(fmt.Sprintf("payload %d", i))
			e, err := b.Sign(context.Background(), typ, p)
			if err != nil {
				t.Error(err)
				return
			}
			if got, err := v.Verify(roundTrip(t, e), typ); err != nil || string(got) != string(p) {
				t.Errorf("Verify = %q, %v", got, err)
			}
		}()
	}
	wg.Wait()
}

// The hand-written encoder writes exactly what encoding/json writes.
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	_, s := setup(t)
	envs := append([]*Envelope{s.Sign(TypeLicense, []byte(`{"a":"<b>&"}`))}, s.signBatch(TypeVerdict, [][]byte{[]byte("x"), []byte("y"), []byte("z")})...)
	odd := *envs[0]
	odd.Type = "weird \"type\""
	envs = append(envs, &odd)
	for i, e := range envs {
		fast, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		slow, err := json.Marshal(envelopeJSON{Type: e.Type, KeyID: e.KeyID, Payload: e.Payload, Signature: e.Signature, Cert: e.Cert, Batch: e.Batch})
		if err != nil {
			t.Fatal(err)
		}
		if string(fast) != string(slow) {
			t.Fatalf("envelope %d:\nfast %s\nslow %s", i, fast, slow)
		}
		for _, room := range []int{0, 8192} {
			dst := append(make([]byte, 0, 6+room), "prefix"...)
			if got, err := e.AppendJSON(dst); err != nil || string(got) != "prefix"+string(slow) {
				t.Fatalf("envelope %d appended to %d spare bytes:\n got %s %v\nwant prefix%s", i, room, got, err, slow)
			}
		}
	}
}

// A leaf is hashed without building its message: the hash must be that of
// the message, for every type and payload.
func TestLeafHashIsOfTheMessage(t *testing.T) {
	for _, typ := range []string{TypeVerdict, TypeLicense, "x"} {
		for _, payload := range [][]byte{nil, []byte("{}"), bytes.Repeat([]byte("ab\n"), 700)} {
			if leafHash(typ, payload) != sha256.Sum256(append([]byte{0}, message(typ, payload)...)) {
				t.Fatalf("%s, %d bytes: leaf hashes differ", typ, len(payload))
			}
		}
	}
}
