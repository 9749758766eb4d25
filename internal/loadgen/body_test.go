package loadgen

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/echt-dev/echt/internal/api"
)

// activateBody writes what encoding/json would, with a valid profile that
// differs on every call.
func TestActivateBody(t *testing.T) {
	r := &Runner{fix: &fixture{}}
	r.fix.setSalt([]byte("0123456789abcdef"))
	seen := map[string]bool{}
	for range 100 {
		b := r.activateBody("BCDFG-HJKMP-QRTVW-XY234-6789B")
		var req api.ActivateRequest
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		again, _ := json.Marshal(req)
		if !bytes.Equal(again, b) {
			t.Fatalf("activateBody = %s\nencoding/json = %s", b, again)
		}
		if err := req.Hardware.Validate(); err != nil || req.Key == "" || len(req.Nonce) != 16 || req.Hardware.CPU != r.fix.cpuHash {
			t.Fatalf("request %+v: %v", req, err)
		}
		if seen[req.Hardware.SystemUUID] {
			t.Fatal("two bench devices share a system UUID")
		}
		seen[req.Hardware.SystemUUID] = true
	}
}
