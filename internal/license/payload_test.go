package license

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/hardware"
)

// The hand-written payload is byte for byte what encoding/json writes: the
// canonical form verifiers check.
func TestPayloadMatchesEncodingJSON(t *testing.T) {
	h := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	full := hardware.Profile{SystemUUID: h, BoardSerial: h, Disks: []string{h, h}, MACs: []string{h}, CPU: h, Memory: h, OSInstallID: h}
	cet := time.FixedZone("cet", 3600)
	for i, l := range []License{
		{},
		{Format: Format, LicenseID: "lic_1", ActivationID: "act_1", Product: "photoedit", ProductName: `Photo <Edit> & "Co" é` + "\n\t\\\u2028", Edition: "Pro",
			SKU: "photoedit-pro", Channel: "retail", Entitlements: []string{"a", "<b>"}, PartialKey: "XXXXX-XXXXX-XXXXX-XXXXX-7FFW4", Hardware: full, Tolerance: 4,
			IssuedAt: time.Date(2026, 11, 25, 23, 51, 58, 567_000_000, time.UTC), NotAfter: time.Date(2027, 1, 2, 3, 4, 5, 0, cet),
			RevalidateAfter: time.Date(2026, 11, 26, 23, 51, 58, 1, time.UTC), ReminderMinutes: 60, EscalateDays: -1, KeyID: "k_x", Nonce: "n", Server: "http://127.0.0.1:8080"},
		{Entitlements: []string{}, Hardware: hardware.Profile{Disks: []string{}}, IssuedAt: time.Unix(0, 0).In(cet)},
	} {
		got, ok := appendPayload(nil, &l)
		want, err := json.Marshal(l)
		if !ok || err != nil || string(got) != string(want) {
			t.Errorf("license %d:\n got %s (%v)\nwant %s (%v)", i, got, ok, want, err)
		}
	}
	bad := License{IssuedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, ok := appendPayload(nil, &bad); ok {
		t.Error("a payload with year 10000 was written by hand")
	}
	if _, err := Payload(bad, "k"); err == nil {
		t.Error("Payload encoded year 10000")
	}
}

// FuzzPayload holds the hand-written payload to encoding/json for any
// strings and numbers a license can carry.
func FuzzPayload(f *testing.F) {
	f.Add("PhotoEdit", "Pro <x> & é", "n-1", 4, int64(1764114718567))
	f.Add("", "\u2028\x00\"\\", "", -1, int64(-62135596800000))
	f.Fuzz(func(t *testing.T, name, edition, nonce string, tol int, ms int64) {
		l := License{ProductName: name, Edition: edition, Nonce: nonce, Tolerance: tol, Entitlements: []string{edition},
			IssuedAt: time.UnixMilli(ms).UTC(), RevalidateAfter: time.UnixMilli(ms / 2), NotAfter: time.UnixMilli(ms).In(time.FixedZone("x", int(ms%86400)))}
		got, ok := appendPayload(nil, &l)
		want, err := json.Marshal(l)
		if ok != (err == nil) || (ok && string(got) != string(want)) {
			t.Fatalf("got %s (%v)\nwant %s (%v)", got, ok, want, err)
		}
	})
}
