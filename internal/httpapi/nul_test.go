package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/echt-dev/echt/internal/httpapi"
	"github.com/echt-dev/echt/internal/httpapi/httpapitest"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/postgres"
	"github.com/echt-dev/echt/internal/store/storetest"
	"github.com/echt-dev/echt/problem"
)

// TestNULIsRefused: no text with a NUL character, and no address that is
// not UTF-8, gets in, on either store.
// PostgreSQL's text cannot hold one (it answered 500), and an SQLite
// installation holding one could not be copied to PostgreSQL.
func TestNULIsRefused(t *testing.T) {
	stores := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store { return nil },
		"postgres": func(t *testing.T) store.Store {
			st, err := postgres.Open(context.Background(), postgres.Config{URL: storetest.PostgresURL(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			srv := httpapitest.Start(t, httpapitest.Options{Store: open(t)})
			setupCatalog(t, srv)
			for _, tc := range []struct {
				method, path, body string
				admin              bool
				status             int
				code               problem.Code
			}{
				{"POST", "/v1/admin/products", `{"id":"n1","name":"Ph\u0000oto"}`, true, 400, problem.InvalidRequest},
				{"POST", "/v1/admin/skus", `{"id":"n2","product":"photoedit","edition":"E\u0000x","channel":"retail"}`, true, 400, problem.InvalidRequest},
				{"POST", "/v1/admin/tokens", `{"role":"support","description":"a\u0000b"}`, true, 400, problem.InvalidRequest},
				{"POST", "/v1/activations", `{"product":"a\u0000b","hardware":{"system_uuid":"3f1c0a9be2d54c7f8a61b0e4d2c9f7a1"},"nonce":"n"}`, false, 400, problem.InvalidRequest},
				{"POST", "/v1/keys/check", `{"key":"\u0000"}`, false, 400, problem.InvalidRequest},
				{"GET", "/v1/products/a%00b", "", false, 404, problem.NotFound},
				{"GET", "/v1/admin/skus/a%00b", "", true, 404, problem.NotFound},
				{"GET", "/v1/admin/activations/act%00x", "", true, 404, problem.NotFound},
				{"GET", "/v1/admin/audit?action=a%00b", "", true, 400, problem.InvalidRequest},
				{"GET", "/v1/products/%ff", "", false, 404, problem.NotFound},
				{"GET", "/v1/admin/activations/act%c3", "", true, 404, problem.NotFound},
				{"POST", "/v1/admin/tokens/%ff/revoke", "", true, 404, problem.NotFound},
				{"GET", "/v1/admin/audit?action=%ff", "", true, 400, problem.InvalidRequest},
				{"GET", "/v1/admin/audit?%fe=1", "", true, 400, problem.InvalidRequest},
				{"GET", "/v1/admin/products/../products", "", true, 404, problem.NotFound},
				{"GET", "/v1/admin//products", "", true, 404, problem.NotFound},
			} {
				token := ""
				if tc.admin {
					token = srv.AdminToken
				}
				var body any
				if tc.body != "" {
					body = tc.body
				}
				r := call(t, srv, tc.method, tc.path, token, body)
				if d := r.problem(t); r.status != tc.status || d.Code != tc.code {
					t.Errorf("%s %s %s = %d %s %q; want %d %s", tc.method, tc.path, tc.body, r.status, d.Code, d.Detail, tc.status, tc.code)
				}
			}
			// An escaped backslash before u0000 is text, not a NUL.
			r := call(t, srv, "POST", "/v1/admin/products", srv.AdminToken, `{"id":"n3","name":"C:\\u0000 folder"}`)
			if r.status != http.StatusCreated {
				t.Fatalf("a name with a literal backslash-u0000 = %d %s", r.status, r.body)
			}
		})
	}
}

// Activation and deactivation need a nonce, as validation does: the answer
// is signed over it, and without one a replayed answer could not be told.
func TestNonceRequired(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	for _, tc := range []struct{ path, body string }{
		{"/v1/activations", `{"key":"BCDFG-HJKMP-QRTVW-XY234-6789B","hardware":{"system_uuid":"3f1c0a9be2d54c7f8a61b0e4d2c9f7a1"}}`},
		{"/v1/activations", `{"key":"BCDFG-HJKMP-QRTVW-XY234-6789B","hardware":{"system_uuid":"3f1c0a9be2d54c7f8a61b0e4d2c9f7a1"},"nonce":""}`},
		{"/v1/activations/deactivate", `{"license":{"payload":"e30","signature":"AA"},"hardware":{"system_uuid":"3f1c0a9be2d54c7f8a61b0e4d2c9f7a1"}}`},
	} {
		r := call(t, srv, "POST", tc.path, "", tc.body)
		if d := r.problem(t); r.status != http.StatusBadRequest || d.Code != problem.InvalidRequest || !strings.Contains(d.Detail, "nonce") {
			t.Errorf("POST %s %s = %d %s %q; want 400 INVALID_REQUEST about the nonce", tc.path, tc.body, r.status, d.Code, d.Detail)
		}
	}
}

// Admin endpoints refuse fields they do not use, the parameterless ones
// (keyring rotation, backup) included.
func TestAdminRefusesUnusedFields(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	for _, tc := range []struct{ path, body string }{
		{"/v1/admin/keyring/rotate", `{"bogus":1}`},
		{"/v1/admin/backup", `{"bogus":1}`},
		{"/v1/admin/keys/unblock", `{"key":"BCDFG-HJKMP-QRTVW-XY234-6789B","reason":"x"}`},
		{"/v1/admin/keys/lookup", `{"key":"BCDFG-HJKMP-QRTVW-XY234-6789B","reason":"x"}`},
	} {
		r := call(t, srv, "POST", tc.path, srv.AdminToken, tc.body)
		if d := r.problem(t); r.status != http.StatusBadRequest || d.Code != problem.InvalidRequest || !strings.Contains(d.Detail, "unknown field") {
			t.Errorf("POST %s %s = %d %s %q; want 400 INVALID_REQUEST about the unknown field", tc.path, tc.body, r.status, d.Code, d.Detail)
		}
	}
	for _, body := range []string{"", "{}"} {
		if r := call(t, srv, "POST", "/v1/admin/keyring/rotate", srv.AdminToken, body); r.status != http.StatusOK {
			t.Errorf("rotate with body %q = %d %s", body, r.status, r.body)
		}
	}
}

// An admin body that names a field twice, or is not an object, is refused:
// encoding/json would keep the last value silently, and another reader
// of the same body (a proxy, an audit tool) the first.
func TestAdminRefusesAmbiguousBodies(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	for _, tc := range []struct{ body, want string }{
		{`{"id":"dup1","name":"A","id":"dup2"}`, `"id" twice`},
		{`{"id":"p1","name":"A","policy":{"max_devices":1,"max_devices":2}}`, `"max_devices" twice`},
		{`null`, "must be a JSON object"},
		{`[]`, "must be a JSON object"},
	} {
		r := call(t, srv, "POST", "/v1/admin/products", srv.AdminToken, tc.body)
		if d := r.problem(t); r.status != http.StatusBadRequest || d.Code != problem.InvalidRequest || !strings.Contains(d.Detail, tc.want) {
			t.Errorf("POST /v1/admin/products %s = %d %s %q; want 400 INVALID_REQUEST saying %q", tc.body, r.status, d.Code, d.Detail, tc.want)
		}
	}
	// Equal names in different objects are fine.
	if r := call(t, srv, "POST", "/v1/admin/products", srv.AdminToken, `{"id":"p2","name":"A","x":{"id":1}}`); r.status == http.StatusBadRequest && strings.Contains(string(r.body), "twice") {
		t.Errorf("nested equal names refused: %s", r.body)
	}
}

// Invalid UTF-8 is refused, not replaced; JSON answers say nosniff.
func TestInvalidUTF8AndNosniff(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	r := call(t, srv, "POST", "/v1/admin/products", srv.AdminToken, "{\"id\":\"utf8\",\"name\":\"a\xff\xfeb\"}")
	if d := r.problem(t); r.status != http.StatusBadRequest || !strings.Contains(d.Detail, "UTF-8") {
		t.Fatalf("invalid UTF-8 = %d %q; want 400 saying UTF-8", r.status, d.Detail)
	}
	r = call(t, srv, "GET", "/v1/signing-keys", "", nil)
	if r.status != http.StatusOK || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET /v1/signing-keys = %d, X-Content-Type-Options %q; want nosniff", r.status, r.header.Get("X-Content-Type-Options"))
	}
}

// The Authorization scheme is case-insensitive and may be followed by more
// than one space (RFC 9110).
func TestBearerSpacing(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	for _, h := range []string{"Bearer  " + srv.AdminToken, "bearer " + srv.AdminToken, "BEARER\t" + srv.AdminToken} {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/admin/products", nil)
		req.Header.Set("Authorization", h)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusOK
		if strings.HasPrefix(h, "BEARER\t") {
			want = http.StatusUnauthorized // a tab is not the separator
		}
		if resp.StatusCode != want {
			t.Errorf("Authorization %q = %d, want %d", h[:8], resp.StatusCode, want)
		}
	}
}

// A valid token is exempt from the per-address limits even the first time
// it is seen from an address that used up its budget; made-up tokens are
// not, and stop costing database reads once their own budget is spent.
func TestValidTokenExemptFromTheStart(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{Config: httpapi.Config{ClientLimit: httpapi.RateLimit{Rate: 0.01, Burst: 2}}})
	get := func(token string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/signing-keys", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for get("") != http.StatusTooManyRequests {
	}
	if code := get(srv.AdminToken); code != http.StatusOK {
		t.Fatalf("first request with a valid token from a limited address = %d, want 200", code)
	}
	fake := "echt_" + strings.Repeat("a", 16) + "_" + strings.Repeat("b", 52)
	if code := get(fake); code != http.StatusTooManyRequests {
		t.Fatalf("made-up token from a limited address = %d, want 429", code)
	}
}
