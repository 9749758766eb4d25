package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/echt-dev/echt/internal/httpapi/httpapitest"
	"github.com/echt-dev/echt/problem"
)

var fuzzEndpoints = []struct {
	path  string
	admin bool
}{
	{"/v1/activations", false},
	{"/v1/activations/deactivate", false},
	{"/v1/validations", false},
	{"/v1/keys/check", false},
	{"/v1/keys/product", false},
	{"/v1/bench/sign", false},
	{"/v1/admin/products", true},
	{"/v1/admin/skus", true},
	{"/v1/admin/skus/photoedit-pro/keys", true},
	{"/v1/admin/keys/lookup", true},
	{"/v1/admin/keys/block", true},
	{"/v1/admin/tokens", true},
	{"/v1/admin/keys/unblock", true},
	{"/v1/admin/activations/01HZX0000000000000000000/revoke", true},
	{"/help/feedback", false},
}

// FuzzRequestBodies sends arbitrary bodies to every endpoint that reads
// one: the server answers 2xx or a 4xx problem, never a 500 or a panic.
func FuzzRequestBodies(f *testing.F) {
	srv := httpapitest.Start(f, httpapitest.Options{})
	h := srv.API.Handler()
	for i := range fuzzEndpoints {
		f.Add(uint8(i), []byte(`{}`))
	}
	f.Add(uint8(0), []byte(`{"key":"BCDFG-HJKMP-QRTVW-XY234-6789B","hardware":{"system_uuid":"0123456789abcdef0123456789abcdef"},"nonce":"n"}`))
	f.Add(uint8(2), []byte(`{"license":{"type":"license","kid":"k","payload":"e30=","sig":"AAAA"},"hardware":{"macs":["0123456789abcdef0123456789abcdef"]},"nonce":"x"}`))
	f.Add(uint8(5), []byte(`{"id":"photoedit","name":"P"}`))
	f.Add(uint8(6), []byte(`{"id":"photoedit-pro","product":"photoedit","edition":"Pro","channel":"retail","policy":{"max_devices":-1}}`))
	f.Add(uint8(3), []byte(`{"key":"`+string(bytes.Repeat([]byte("B"), 5000))+`"}`))
	f.Add(uint8(1), []byte(`[1,2,3]`))
	f.Add(uint8(4), []byte(`{"message":null}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		ep := fuzzEndpoints[int(which)%len(fuzzEndpoints)]
		req := httptest.NewRequest("POST", ep.path, bytes.NewReader(body))
		if ep.admin {
			req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q = %d %s", ep.path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
				t.Fatalf("POST %s: error with Content-Type %q", ep.path, ct)
			}
			if d := problem.DecodeBytes(rec.Code, problem.ContentType, "", rec.Body.Bytes()); d.Code == problem.Internal {
				t.Fatalf("POST %s: %s", ep.path, rec.Body)
			}
		} else if rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
			t.Fatalf("POST %s = %d", ep.path, rec.Code)
		}
	})
}

// FuzzResultsPage requests the results page of arbitrary verdict links
// (GET /genuine/{id}, anyone can make one up): a page or a 404, never a
// 500 or a panic.
func FuzzResultsPage(f *testing.F) {
	srv := httpapitest.Start(f, httpapitest.Options{})
	h := srv.API.Handler()
	f.Add("eyJzIjoiR0VOVUlORSJ9.AAAA")
	f.Add("")
	f.Add("a.b.c")
	f.Add("%ff")
	f.Fuzz(func(t *testing.T, id string) {
		req := httptest.NewRequest("GET", "/genuine/x", nil)
		req.URL.Path = "/genuine/" + id
		req.URL.RawPath = ""
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET /genuine/%q = %d %s", id, rec.Code, rec.Body)
		}
	})
}
