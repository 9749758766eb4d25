package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/echt-dev/echt/internal/httpapi"
	"github.com/echt-dev/echt/internal/httpapi/httpapitest"
	"github.com/echt-dev/echt/problem"
)

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) problem(t *testing.T) problem.Document {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("Content-Type = %q, want %q (body %s)", ct, problem.ContentType, r.body)
	}
	var d struct {
		Type   string       `json:"type"`
		Title  string       `json:"title"`
		Status int          `json:"status"`
		Code   problem.Code `json:"code"`
		Detail string       `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatalf("problem body %s: %v", r.body, err)
	}
	if d.Status != r.status || d.Type == "" || d.Title == "" || d.Code == "" {
		t.Fatalf("problem document %s incomplete for status %d", r.body, r.status)
	}
	return problem.Document{Type: d.Type, Title: d.Title, Status: d.Status, Code: d.Code, Detail: d.Detail}
}

func call(t testing.TB, srv *httpapitest.Server, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func decode[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

func setupCatalog(t testing.TB, srv *httpapitest.Server) {
	t.Helper()
	if r := call(t, srv, "POST", "/v1/admin/products", srv.AdminToken, map[string]string{"id": "photoedit", "name": "PhotoEdit"}); r.status != 201 {
		t.Fatalf("create product = %d %s", r.status, r.body)
	}
	if r := call(t, srv, "POST", "/v1/admin/skus", srv.AdminToken, map[string]any{"id": "photoedit-pro", "product": "photoedit", "edition": "Pro", "channel": "retail"}); r.status != 201 {
		t.Fatalf("create sku = %d %s", r.status, r.body)
	}
}

func generate(t testing.TB, srv *httpapitest.Server, sku string, n int) []string {
	t.Helper()
	r := call(t, srv, "POST", "/v1/admin/skus/"+sku+"/keys", srv.AdminToken, map[string]int{"count": n})
	if r.status != 201 {
		t.Fatalf("generate = %d %s", r.status, r.body)
	}
	return decode[struct{ Keys []string }](t, r).Keys
}

func TestCatalogAndKeys(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	setupCatalog(t, srv)

	skus := decode[[]httpapi.SKUView](t, call(t, srv, "GET", "/v1/admin/skus", srv.AdminToken, nil))
	if len(skus) != 1 || skus[0].Policy.MaxDevices != 1 || skus[0].Policy.GraceDays != 30 || skus[0].Policy.Tolerance != 4 || skus[0].KeyGroup == 0 {
		t.Fatalf("skus = %+v", skus)
	}
	if r := call(t, srv, "POST", "/v1/admin/skus", srv.AdminToken, map[string]any{"id": "x", "product": "photoedit", "edition": "X", "channel": "volume-mak"}); r.status != 422 || r.problem(t).Code != problem.InvalidPolicy {
		t.Fatalf("volume-mak without max devices = %d %s", r.status, r.body)
	}
	for _, pol := range []map[string]int{{"revalidate_hours": 2562048}, {"reminder_minutes": 999999999999}, {"escalate_days": 366}, {"revalidate_hours": 87601}} {
		if r := call(t, srv, "POST", "/v1/admin/skus", srv.AdminToken, map[string]any{"id": "z", "product": "photoedit", "edition": "Z", "channel": "retail", "policy": pol}); r.status != 422 || r.problem(t).Code != problem.InvalidPolicy {
			t.Fatalf("policy %v beyond its bound = %d %s; want 422 INVALID_POLICY", pol, r.status, r.body)
		}
	}
	if r := call(t, srv, "POST", "/v1/admin/skus", srv.AdminToken, map[string]any{"id": "y", "product": "nope", "edition": "X", "channel": "retail"}); r.status != 404 || r.problem(t).Code != problem.ProductNotFound {
		t.Fatalf("sku of unknown product = %d %s", r.status, r.body)
	}
	if r := call(t, srv, "POST", "/v1/admin/products", srv.AdminToken, map[string]string{"id": "photoedit"}); r.status != 409 || r.problem(t).Code != problem.ProductExists {
		t.Fatalf("duplicate product = %d %s", r.status, r.body)
	}
	if r := call(t, srv, "POST", "/v1/admin/products", srv.AdminToken, map[string]string{"id": "Bad Id"}); r.status != 400 || r.problem(t).Code != problem.InvalidRequest {
		t.Fatalf("bad product id = %d %s", r.status, r.body)
	}

	keys := generate(t, srv, "photoedit-pro", 10)
	if len(keys) != 10 {
		t.Fatalf("got %d keys", len(keys))
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if len(k) != 29 || seen[k] {
			t.Fatalf("key %q malformed or repeated", k)
		}
		seen[k] = true
	}

	show := func(key string) response {
		return call(t, srv, "POST", "/v1/admin/keys/lookup", srv.AdminToken, map[string]string{"key": key})
	}
	r := show(strings.ToLower(strings.ReplaceAll(keys[3], "-", " ")))
	inf := decode[map[string]any](t, r)
	if r.status != 200 || inf["status"] != "active" || inf["sku"] != "photoedit-pro" || inf["partial_key"] != "XXXXX-XXXXX-XXXXX-XXXXX-"+keys[3][24:] {
		t.Fatalf("show = %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), keys[3]) {
		t.Fatalf("show reveals the full key: %s", r.body)
	}

	typo := keys[3][:2] + swapChar(keys[3][2]) + keys[3][3:]
	if r := show(typo); r.status != 422 || r.problem(t).Code != problem.KeyTypo {
		t.Fatalf("show(typo) = %d %s", r.status, r.body)
	}
	if r := show("BCDFG-HJKMP-QRTVW-XY234-6789B"); r.status != 422 || r.problem(t).Code != problem.KeyInvalid {
		t.Fatalf("show(random) = %d %s", r.status, r.body)
	}

	r = call(t, srv, "POST", "/v1/admin/keys/block", srv.AdminToken, map[string]string{"key": keys[3], "reason": "counterfeit"})
	if inf := decode[map[string]any](t, r); r.status != 200 || inf["status"] != "blocked" || inf["block_reason"] != "counterfeit" {
		t.Fatalf("block = %d %s", r.status, r.body)
	}
	if r := call(t, srv, "POST", "/v1/admin/keys/block", srv.AdminToken, map[string]string{"key": keys[3], "reason": "because"}); r.status != 400 {
		t.Fatalf("block with bad reason = %d %s", r.status, r.body)
	}
	r = call(t, srv, "POST", "/v1/admin/keys/unblock", srv.AdminToken, map[string]string{"key": keys[3]})
	if inf := decode[map[string]any](t, r); r.status != 200 || inf["status"] != "active" {
		t.Fatalf("unblock = %d %s", r.status, r.body)
	}

	audit := decode[[]httpapi.AuditView](t, call(t, srv, "GET", "/v1/admin/audit?limit=1000", srv.AdminToken, nil))
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
		if a.Action == "key.block" && (!strings.HasPrefix(a.Target, "XXXXX-") || !strings.Contains(string(a.Detail), "counterfeit") || a.Actor == "" || a.RequestID == "") {
			t.Errorf("block audit entry = %+v", a)
		}
	}
	want := "bootstrap product.create sku.create keys.generate key.block key.unblock"
	if got := strings.Join(actions, " "); got != want {
		t.Fatalf("audit actions = %q, want %q", got, want)
	}
	for _, a := range audit {
		if strings.Contains(string(a.Detail), keys[3]) {
			t.Fatalf("audit reveals a key: %+v", a)
		}
	}
}

func swapChar(c byte) string {
	if c == 'B' {
		return "C"
	}
	return "B"
}

func TestTokensAndRoles(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	setupCatalog(t, srv)
	keys := generate(t, srv, "photoedit-pro", 1)

	tokens := map[string]string{}
	for _, role := range []string{"support", "investigator", "auditor"} {
		r := call(t, srv, "POST", "/v1/admin/tokens", srv.AdminToken, map[string]string{"role": role})
		tv := decode[httpapi.TokenView](t, r)
		if r.status != 201 || !strings.HasPrefix(tv.Token, "echt_") || tv.Role != role {
			t.Fatalf("create %s token = %d %s", role, r.status, r.body)
		}
		tokens[role] = tv.Token
	}
	if r := call(t, srv, "POST", "/v1/admin/tokens", srv.AdminToken, map[string]string{"role": "root"}); r.status != 400 {
		t.Fatalf("create token with unknown role = %d", r.status)
	}

	type check struct {
		method, path string
		body         any
	}
	adminOnly := []check{
		{"POST", "/v1/admin/products", map[string]string{"id": "x"}},
		{"POST", "/v1/admin/skus", map[string]any{"id": "x", "product": "photoedit", "edition": "e", "channel": "retail"}},
		{"POST", "/v1/admin/skus/photoedit-pro/keys", map[string]int{"count": 1}},
		{"POST", "/v1/admin/tokens", map[string]string{"role": "admin"}},
		{"GET", "/v1/admin/tokens", nil},
		{"POST", "/v1/admin/keyring/rotate", map[string]string{}},
	}
	for role, tok := range tokens {
		for _, c := range adminOnly {
			r := call(t, srv, c.method, c.path, tok, c.body)
			if r.status != 403 || r.problem(t).Code != problem.Forbidden {
				t.Errorf("%s %s as %s = %d %s, want 403 FORBIDDEN", c.method, c.path, role, r.status, r.body)
			}
		}
		// every role may read the catalog and look up keys
		if r := call(t, srv, "GET", "/v1/admin/skus", tok, nil); r.status != 200 {
			t.Errorf("list skus as %s = %d", role, r.status)
		}
		if r := call(t, srv, "POST", "/v1/admin/keys/lookup", tok, map[string]string{"key": keys[0]}); r.status != 200 {
			t.Errorf("lookup as %s = %d", role, r.status)
		}
	}
	// blocking: investigators yes, support and auditors no
	for role, want := range map[string]int{"investigator": 200, "support": 403, "auditor": 403} {
		if r := call(t, srv, "POST", "/v1/admin/keys/block", tokens[role], map[string]string{"key": keys[0], "reason": "leaked"}); r.status != want {
			t.Errorf("block as %s = %d, want %d", role, r.status, want)
		}
	}
	// audit: auditors yes, support no
	if r := call(t, srv, "GET", "/v1/admin/audit", tokens["auditor"], nil); r.status != 200 {
		t.Errorf("audit as auditor = %d", r.status)
	}
	if r := call(t, srv, "GET", "/v1/admin/audit", tokens["support"], nil); r.status != 403 {
		t.Errorf("audit as support = %d", r.status)
	}

	// missing, malformed, wrong and revoked tokens get 401
	wrong := tokens["support"][:len(tokens["support"])-4] + "aaaa"
	for name, tok := range map[string]string{"missing": "", "malformed": "hello", "wrong secret": wrong} {
		r := call(t, srv, "GET", "/v1/admin/skus", tok, nil)
		if r.status != 401 || r.problem(t).Code != problem.Unauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s token = %d %s, want 401", name, r.status, r.body)
		}
	}
	list := decode[[]httpapi.TokenView](t, call(t, srv, "GET", "/v1/admin/tokens", srv.AdminToken, nil))
	var supportID string
	for _, tv := range list {
		if tv.Token != "" {
			t.Fatalf("token list reveals a token: %+v", tv)
		}
		if tv.Role == "support" {
			supportID = tv.ID
		}
	}
	if r := call(t, srv, "GET", "/v1/admin/skus", tokens["support"], nil); r.status != 200 {
		t.Fatalf("support before revoke = %d", r.status)
	}
	if r := call(t, srv, "POST", "/v1/admin/tokens/"+supportID+"/revoke", srv.AdminToken, map[string]string{}); r.status != 200 {
		t.Fatalf("revoke = %d %s", r.status, r.body)
	}
	if r := call(t, srv, "GET", "/v1/admin/skus", tokens["support"], nil); r.status != 401 {
		t.Fatalf("revoked token = %d, want 401", r.status)
	}
	if r := call(t, srv, "POST", "/v1/admin/tokens/tok_nope/revoke", srv.AdminToken, map[string]string{}); r.status != 404 || r.problem(t).Code != problem.TokenNotFound {
		t.Fatalf("revoke unknown = %d %s", r.status, r.body)
	}
}

func TestProblemsAndLimits(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{Config: httpapi.Config{MaxBodyBytes: 1024, ClientLimit: httpapi.RateLimit{Rate: 1, Burst: 3}}})
	if r := call(t, srv, "GET", "/nope", "", nil); r.status != 404 || r.problem(t).Code != problem.NotFound {
		t.Fatalf("unknown route = %d %s", r.status, r.body)
	}
	big := `{"id":"` + strings.Repeat("a", 2000) + `"}`
	if r := call(t, srv, "POST", "/v1/admin/products", srv.AdminToken, big); r.status != 413 || r.problem(t).Code != problem.RequestTooLarge {
		t.Fatalf("big body = %d %s", r.status, r.body)
	}
	// Counted like every other answer (route unmatched: refused before
	// routing).
	if r := call(t, srv, "GET", "/metrics", "", nil); !strings.Contains(string(r.body), `echt_http_requests_total{route="unmatched",status="413"} 1`) {
		t.Fatalf("413 not counted in /metrics")
	}
	if r := call(t, srv, "POST", "/v1/admin/products", srv.AdminToken, `{"id":`); r.status != 400 || r.problem(t).Code != problem.InvalidRequest {
		t.Fatalf("bad JSON = %d %s", r.status, r.body)
	}
	if r := call(t, srv, "POST", "/v1/admin/products", srv.AdminToken, `{"id":"a","nmae":"typo"}`); r.status != 400 {
		t.Fatalf("unknown field = %d %s", r.status, r.body)
	}
	// the public endpoint is rate limited per address; tokens are exempt
	var limited response
	for i := 0; i < 10; i++ {
		if r := call(t, srv, "GET", "/v1/signing-keys", "", nil); r.status == 429 {
			limited = r
			break
		}
	}
	if limited.status != 429 || limited.problem(t).Code != problem.RateLimited || limited.header.Get("Retry-After") == "" {
		t.Fatalf("no 429 with Retry-After after a burst: %d %v", limited.status, limited.header)
	}
	if r := call(t, srv, "GET", "/v1/signing-keys", srv.AdminToken, nil); r.status != 200 {
		t.Fatalf("with token = %d, want exempt", r.status)
	}
	// Health checks are not limited; the API document is, as the other
	// public endpoints.
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := call(t, srv, "GET", p, "", nil); r.status != 200 {
			t.Errorf("GET %s = %d", p, r.status)
		}
	}
	if r := call(t, srv, "GET", "/v1/openapi.json", "", nil); r.status != 429 {
		t.Errorf("GET /v1/openapi.json from a limited address = %d, want 429", r.status)
	}
	if r := call(t, srv, "GET", "/v1/openapi.json", srv.AdminToken, nil); r.status != 200 {
		t.Errorf("GET /v1/openapi.json with a token = %d, want 200", r.status)
	}
	r := call(t, srv, "GET", "/metrics", "", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "echt_http_requests_total") {
		t.Fatalf("metrics = %d", r.status)
	}
	if r.header.Get("X-Request-Id") == "" {
		t.Fatalf("no X-Request-Id")
	}
}

func TestMethodNotAllowed(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	r := call(t, srv, "DELETE", "/v1/admin/products", srv.AdminToken, nil)
	if r.status != 405 || r.problem(t).Code != problem.MethodNotAllowed || !strings.Contains(r.header.Get("Allow"), "GET") || !strings.Contains(r.header.Get("Allow"), "POST") {
		t.Fatalf("DELETE /v1/admin/products = %d %v %s", r.status, r.header, r.body)
	}
	if r := call(t, srv, "GET", "/v1/activations", "", nil); r.status != 405 {
		t.Fatalf("GET /v1/activations = %d", r.status)
	}
}

// Bodies that say nothing, or the wrong JSON types, are INVALID_REQUEST
// with a detail in the API's terms (JSON fields and types, never the
// server's Go types).
func TestBadBodiesSayWhatIsWrong(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/activations/deactivate", `{}`, "license"},
		{"/v1/activations/deactivate", `null`, "license"},
		{"/v1/keys/check", `{}`, "key"},
		{"/v1/keys/check", `{"key": "  "}`, "key"},
		{"/v1/activations", `{"key": 5}`, `field "key"`},
		{"/v1/keys/check", `[1, 2]`, "JSON object"},
		{"/v1/validations", `{"license": `, "end of JSON input"},
		// The license is lifted out of the request without being read
		// through: one that is not JSON is still refused as malformed.
		{"/v1/validations", `{"license":{"type":tru},"hardware":{"system_uuid":"` + strings.Repeat("ab", 16) + `"},"nonce":"n1"}`, "license: not valid JSON"},
	} {
		r := call(t, srv, "POST", tc.path, "", tc.body)
		d := r.problem(t)
		if r.status != http.StatusBadRequest || d.Code != problem.InvalidRequest || !strings.Contains(d.Detail, tc.want) || strings.Contains(d.Detail, "Go ") {
			t.Errorf("POST %s %s = %d %s %q; want 400 INVALID_REQUEST saying %q", tc.path, tc.body, r.status, d.Code, d.Detail, tc.want)
		}
	}
}

// The last valid admin token cannot be revoked: nothing could make tokens
// again. With a second admin token, either may go, but not both.
func TestLastAdminTokenStays(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	adminIDs := func() []string {
		var ids []string
		for _, tv := range decode[[]httpapi.TokenView](t, call(t, srv, "GET", "/v1/admin/tokens", srv.AdminToken, nil)) {
			if tv.Role == "admin" && tv.RevokedAt.IsZero() {
				ids = append(ids, tv.ID)
			}
		}
		return ids
	}
	first := adminIDs()
	if len(first) != 1 {
		t.Fatalf("admin tokens at start = %v", first)
	}
	if r := call(t, srv, "POST", "/v1/admin/tokens/"+first[0]+"/revoke", srv.AdminToken, map[string]string{}); r.status != 409 || r.problem(t).Code != problem.Conflict {
		t.Fatalf("revoke the last admin token = %d %s; want 409 CONFLICT", r.status, r.body)
	}
	created := decode[httpapi.TokenView](t, call(t, srv, "POST", "/v1/admin/tokens", srv.AdminToken, map[string]string{"role": "admin", "description": "second"}))
	if r := call(t, srv, "POST", "/v1/admin/tokens/"+first[0]+"/revoke", created.Token, map[string]string{}); r.status != 200 {
		t.Fatalf("revoke the first of two admin tokens = %d %s", r.status, r.body)
	}
	if r := call(t, srv, "POST", "/v1/admin/tokens/"+created.ID+"/revoke", created.Token, map[string]string{}); r.status != 409 {
		t.Fatalf("revoke the second, now last, admin token = %d %s; want 409", r.status, r.body)
	}
	if r := call(t, srv, "GET", "/v1/admin/skus", created.Token, nil); r.status != 200 {
		t.Fatalf("the last admin token after a refused revoke = %d", r.status)
	}
}
