package httpapi

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
)

// benchTrivial is the trivial JSON handler `echt bench --baseline`
// measures: everything a request costs but the work.
func (s *Server) benchTrivial(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, map[string]string{"status": "ok"})
}

// benchSign signs one Ed25519 message per request: the floor of any
// endpoint that answers with a signature. It signs with a key of its own,
// made when the server starts and never published: with the publisher's
// signing key, anyone could have the server sign any answer a fake server
// then passes off as the publisher's.
func (s *Server) benchSign(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Message string `json:"message"`
	}
	if err := s.decode(r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	sig := ed25519.Sign(s.benchKey, []byte(req.Message))
	reply(w, http.StatusOK, map[string]string{"signature": base64.StdEncoding.EncodeToString(sig)})
}
