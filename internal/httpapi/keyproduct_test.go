package httpapi_test

import (
	"bytes"
	"net/http"
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

// A product's salt reaches the SDK signed: with a nonce the answers of
// GET /v1/products/{id} and POST /v1/keys/product are signed and not
// cached; without one the product's is cacheable and the key's is not, and
// both vary with Echt-Nonce so that no cache hands its unsigned copy to a
// request with a nonce.
func TestProductInfoSignedForTheSDK(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	setupCatalog(t, srv)
	key := generate(t, srv, "photoedit-pro", 1)[0]
	for _, tc := range []struct {
		method, path string
		body         []byte
		public       string
	}{
		{"GET", "/v1/products/photoedit", nil, "public, max-age=300"},
		{"POST", "/v1/keys/product", []byte(`{"key":"` + key + `"}`), "no-store"},
	} {
		for _, nonce := range []string{"", "n-42"} {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, bytes.NewReader(tc.body))
			if nonce != "" {
				req.Header.Set(api.NonceHeader, nonce)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			signed := resp.Header.Get(api.SignatureHeader) != "" && resp.Header.Get(api.CertificateHeader) != ""
			cache, vary := resp.Header.Get("Cache-Control"), resp.Header.Get("Vary")
			switch {
			case resp.StatusCode != 200 || vary != api.NonceHeader:
				t.Errorf("%s %s nonce %q: %d, Vary %q", tc.method, tc.path, nonce, resp.StatusCode, vary)
			case nonce != "" && (!signed || cache != "no-store"):
				t.Errorf("%s %s with a nonce: signed %v, Cache-Control %q; want signed, no-store", tc.method, tc.path, signed, cache)
			case nonce == "" && (signed || cache != tc.public):
				t.Errorf("%s %s without a nonce: signed %v, Cache-Control %q; want unsigned, %q", tc.method, tc.path, signed, cache, tc.public)
			}
		}
	}
}
