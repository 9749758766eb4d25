package httpapi

import (
	"net/http"

	"github.com/echt-dev/echt/internal/auth"
)

// routes registers every route. Keep docs (openapi.json) in step: a test
// checks that both list the same operations.
func (s *Server) routes(mux *http.ServeMux) {
	handle := func(pattern string, h http.HandlerFunc) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(s.route(pattern, h))
	}

	// Operations.
	handle("GET /healthz", s.healthz)
	handle("GET /readyz", s.readyz)
	handle("GET /metrics", s.metrics.handler().ServeHTTP)
	handle("GET /v1/openapi.json", s.public(limitClient, s.openapi))

	// Public and client endpoints.
	handle("GET /v1/signing-keys", s.public(limitClient, s.signingKeys))
	handle("GET /v1/products/{id}", s.client(limitClient, s.productInfo))
	handle("POST /v1/activations", s.client(limitClient, s.activate))
	handle("POST /v1/activations/deactivate", s.client(limitClient, s.deactivate))
	handle("POST /v1/keys/check", s.client(limitCheck, s.checkKey))
	handle("POST /v1/keys/product", s.client(limitClient, s.keyProduct))
	handle("POST /v1/validations", s.client(limitClient, s.validate))

	// Pages for people: help for every code, results of verdicts.
	handle("GET /help/{$}", s.public(limitClient, s.helpIndex))
	// A problem's type with its code cut off still finds every code.
	handle("GET /help/reasons/{$}", s.public(limitClient, s.helpIndex))
	handle("GET /help/errors/{$}", s.public(limitClient, s.helpIndex))
	handle("GET /help/reasons/{code}", s.public(limitClient, s.helpPage("reasons")))
	handle("GET /help/errors/{code}", s.public(limitClient, s.helpPage("errors")))
	handle("POST /help/feedback", s.public(limitCheck, s.feedback))
	handle("GET /genuine/{id}", s.public(limitClient, s.results))

	// Baselines for echt bench: measured on the same server process.
	handle("GET /v1/bench/trivial", s.public(limitClient, s.benchTrivial))
	handle("POST /v1/bench/sign", s.public(limitClient, s.benchSign))

	// Administration.
	handle("POST /v1/admin/products", s.admin(auth.CatalogWrite, s.createProduct))
	handle("GET /v1/admin/products", s.admin(auth.CatalogRead, s.listProducts))
	handle("GET /v1/admin/products/{id}", s.admin(auth.CatalogRead, s.getProduct))
	handle("POST /v1/admin/skus", s.admin(auth.CatalogWrite, s.createSKU))
	handle("GET /v1/admin/skus", s.admin(auth.CatalogRead, s.listSKUs))
	handle("GET /v1/admin/skus/{id}", s.admin(auth.CatalogRead, s.getSKU))
	handle("POST /v1/admin/skus/{id}/keys", s.admin(auth.KeysGenerate, s.generateKeys))
	handle("POST /v1/admin/keys/lookup", s.admin(auth.KeysRead, s.lookupKey))
	handle("POST /v1/admin/keys/block", s.admin(auth.KeysBlock, s.blockKey))
	handle("POST /v1/admin/keys/unblock", s.admin(auth.KeysBlock, s.unblockKey))
	handle("POST /v1/admin/tokens", s.admin(auth.TokensManage, s.createToken))
	handle("GET /v1/admin/tokens", s.admin(auth.TokensManage, s.listTokens))
	handle("POST /v1/admin/tokens/{id}/revoke", s.admin(auth.TokensManage, s.revokeToken))
	handle("GET /v1/admin/audit", s.admin(auth.AuditRead, s.listAudit))
	handle("POST /v1/admin/keyring/rotate", s.admin(auth.KeyringManage, s.rotateKeyring))
	handle("GET /v1/admin/activations/{id}", s.admin(auth.ActivationsRead, s.getActivation))
	handle("POST /v1/admin/activations/{id}/revoke", s.admin(auth.ActivationsWrite, s.revokeActivation))
	handle("GET /v1/admin/feedback", s.admin(auth.CatalogRead, s.feedbackReport))
	handle("POST /v1/admin/backup", s.admin(permBackup, s.backup))

	// Everything else is a problem+json 404 (or 405).
	handle("/", s.notFound)
}

// Routes returns the registered route patterns.
func (s *Server) Routes() []string { return append([]string(nil), s.patterns...) }
