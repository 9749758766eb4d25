package httpapi

import (
	"encoding/base64"
	"net/http"

	"github.com/echt-dev/echt/internal/signing"
)

// benchTrivial is the trivial JSON handler `echt bench --baseline`
// measures: everything a request costs but the work.
func (s *Server) benchTrivial(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, map[string]string{"status": "ok"})
}

// benchSign signs one Ed25519 message per request: the floor of any
// endpoint that answers with a signature.
func (s *Server) benchSign(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Message string `json:"message"`
	}
	if err := s.decode(r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	sig := s.kr.Signer().SignRaw(signing.TypeResponse, []byte(req.Message))
	reply(w, http.StatusOK, map[string]string{"signature": base64.StdEncoding.EncodeToString(sig)})
}
