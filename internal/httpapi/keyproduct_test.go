package httpapi_test

import (
	"bytes"
	"testing"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/httpapi/httpapitest"
	"github.com/echt-dev/echt/internal/loadgen"
	"github.com/echt-dev/echt/problem"
)

// POST /v1/keys/product names a key's product and salt, and nothing about
// the key's use: an unused and an activated key get the same answer.
func TestKeyProduct(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	setupCatalog(t, srv)
	keys := generate(t, srv, "photoedit-pro", 2)
	info := decode[api.ProductInfo](t, call(t, srv, "GET", "/v1/products/photoedit", "", nil))
	if r := call(t, srv, "POST", "/v1/activations", "", api.ActivateRequest{Key: keys[1], Hardware: loadgen.RandomDevice().Hash(info.HardwareSalt), Nonce: "n1"}); r.status != 201 {
		t.Fatalf("activate = %d %s", r.status, r.body)
	}
	unused := call(t, srv, "POST", "/v1/keys/product", "", api.KeyCheckRequest{Key: keys[0]})
	used := call(t, srv, "POST", "/v1/keys/product", "", api.KeyCheckRequest{Key: keys[1]})
	if unused.status != 200 || used.status != 200 || !bytes.Equal(unused.body, used.body) {
		t.Fatalf("unused key: %d %s; activated key: %d %s; want the same answer", unused.status, unused.body, used.status, used.body)
	}
	got := decode[api.ProductInfo](t, unused)
	if got.ID != "photoedit" || got.Name != "PhotoEdit" || !bytes.Equal(got.HardwareSalt, info.HardwareSalt) {
		t.Fatalf("keys/product = %+v, want photoedit and its salt", got)
	}
	for _, tc := range []struct {
		key  string
		code problem.Code
	}{
		{keys[0][:3] + swapChar(keys[0][3]) + keys[0][4:], problem.KeyTypo},
		{"BCDFG-HJKMP-QRTVW-XY234-6789B", problem.KeyInvalid},
	} {
		r := call(t, srv, "POST", "/v1/keys/product", "", api.KeyCheckRequest{Key: tc.key})
		if r.status != 422 || r.problem(t).Code != tc.code {
			t.Errorf("keys/product %s = %d %s, want 422 %s", tc.key, r.status, r.body, tc.code)
		}
	}
}
