package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/httpapi/httpapitest"
	"github.com/echt-dev/echt/internal/loadgen"
)

// The handler benchmarks run requests through the server's whole handler
// chain in-process, without a network, so that they show what echt's own
// code costs per request. Compare validate with the trivial and sign
// handlers of the same run: `go test -run '^$' -bench Handler ./internal/httpapi`.

func benchHandler(b *testing.B, h http.Handler, method, path, token string, body []byte, want int) {
	b.ReportAllocs()
	// Requests in flight together, as on a loaded server: the signer
	// batches concurrent signatures.
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(method, path, nil)
			if body != nil {
				req = httptest.NewRequest(method, path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != want {
				b.Errorf("%s %s = %d %s", method, path, w.Code, w.Body)
				return
			}
		}
	})
}

func BenchmarkHandlerTrivial(b *testing.B) {
	srv := httpapitest.Start(b, httpapitest.Options{})
	benchHandler(b, srv.API.Handler(), "GET", "/v1/bench/trivial", srv.AdminToken, nil, 200)
}

func BenchmarkHandlerSign(b *testing.B) {
	srv := httpapitest.Start(b, httpapitest.Options{})
	body := []byte(`{"message":"echt bench baseline: one Ed25519 signature per request"}`)
	benchHandler(b, srv.API.Handler(), "POST", "/v1/bench/sign", srv.AdminToken, body, 200)
}

func BenchmarkHandlerValidate(b *testing.B) {
	srv := httpapitest.Start(b, httpapitest.Options{})
	setupCatalog(b, srv)
	key := generate(b, srv, "photoedit-pro", 1)[0]
	info := decode[api.ProductInfo](b, call(b, srv, "GET", "/v1/products/photoedit", "", nil))
	prof := loadgen.RandomDevice().Hash(info.HardwareSalt)
	r := call(b, srv, "POST", "/v1/activations", "", api.ActivateRequest{Key: key, Hardware: prof, Nonce: "n1"})
	if r.status != 201 {
		b.Fatalf("activate = %d %s", r.status, r.body)
	}
	lic := decode[api.ActivateResponse](b, r).License
	body, err := json.Marshal(api.ValidateRequest{License: lic, Hardware: prof, Nonce: "0123456789abcdef"})
	if err != nil {
		b.Fatal(err)
	}
	benchHandler(b, srv.API.Handler(), "POST", "/v1/validations", srv.AdminToken, body, 200)
}
