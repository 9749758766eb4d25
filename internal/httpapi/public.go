package httpapi

import (
	"context"
	_ "embed"
	"net/http"
	"strings"
	"time"

	"github.com/echt-dev/echt/internal/keyring"
	"github.com/echt-dev/echt/internal/signing"
	"github.com/echt-dev/echt/problem"
)

//go:embed openapi.json
var openapiDoc []byte

// OpenAPI returns the OpenAPI 3.1 document the server serves.
func OpenAPI() []byte { return openapiDoc }

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openapiDoc)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	// Load balancers probe with short timeouts: answer within two seconds
	// even when the database hangs. One failed ping may be a pooled
	// connection the database closed; a second one says more.
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.st.Ping(ctx)
	if err != nil && ctx.Err() == nil {
		err = s.st.Ping(ctx)
	}
	if err != nil {
		s.log.Warn("not ready", "error", err)
		s.fail(w, r, &problem.Error{Code: problem.StoreUnavailable, Detail: "the database does not answer", RetryAfter: 2 * time.Second})
		return
	}
	if s.keyringStale() {
		s.fail(w, r, &problem.Error{Code: problem.StoreUnavailable, Detail: "the signing keys changed and could not be reloaded yet", RetryAfter: 2 * time.Second})
		return
	}
	reply(w, http.StatusOK, map[string]string{"status": "ready"})
}

// SigningKeysView is the body of GET /v1/signing-keys.
type SigningKeysView struct {
	Root    RootView            `json:"root"`
	Current string              `json:"current"`
	Keys    []keyring.PublicKey `json:"keys"`
}

// RootView names the trust anchor clients pin.
type RootView struct {
	KeyID     string `json:"kid"`
	PublicKey string `json:"public_key"`
}

func (s *Server) signingKeys(w http.ResponseWriter, r *http.Request) {
	root := s.kr.RootPublic()
	w.Header().Set("Cache-Control", "public, max-age=60")
	reply(w, http.StatusOK, SigningKeysView{
		Root:    RootView{KeyID: signing.KeyID(root), PublicKey: signing.EncodePublicKey(root)},
		Current: s.kr.Signer().KeyID(),
		Keys:    s.kr.PublicKeys(),
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	// A known path asked with another method is 405, with Allow.
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.fail(w, r, problem.Newf(problem.MethodNotAllowed, "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
		return
	}
	s.fail(w, r, problem.Newf(problem.NotFound, "no such endpoint: %s %s (the API is described at /v1/openapi.json)", r.Method, r.URL.Path))
}
