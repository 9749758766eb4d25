package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/echt-dev/echt/internal/activation"
	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/bufpool"
	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/internal/reasons"
	"github.com/echt-dev/echt/internal/signing"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/validation"
	"github.com/echt-dev/echt/problem"
)

// signResponse signs an error response of a client endpoint (and the
// deactivation's answer), so that a client can tell the publisher's
// answers from a fake server's.
func (s *Server) signResponse(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	nonce := r.Header.Get(api.NonceHeader)
	if len(nonce) > activation.MaxNonce {
		return
	}
	// The request as this server received it: an answer to a request
	// altered on its way does not verify for the client that sent it.
	ri := info(r)
	if !ri.bodyRead {
		ri.body, _ = readRaw(r, nil)
	}
	signer := s.kr.Signer()
	sig := signer.SignRaw(signing.TypeResponse, api.ResponseMessage(nonce, api.RequestDigest(r.Method, r.URL.EscapedPath(), ri.body), status, body))
	w.Header().Set(api.SignatureHeader, "kid="+signer.KeyID()+", sig="+base64.StdEncoding.EncodeToString(sig))
	w.Header().Set(api.CertificateHeader, base64.StdEncoding.EncodeToString(signer.Certificate()))
}

// client marks a route as a client endpoint: rate limited per address and
// with signed error responses.
func (s *Server) client(c limitClass, h http.HandlerFunc) http.HandlerFunc {
	inner := s.public(c, h)
	return func(w http.ResponseWriter, r *http.Request) {
		info(r).signErrors = true
		inner(w, r)
	}
}

func (s *Server) publicURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) productInfo(w http.ResponseWriter, r *http.Request) {
	p, err := s.cat.Product(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	info := api.ProductInfo{ID: p.ID, Name: p.Name, HardwareSalt: p.HardwareSalt}
	days, ok, err := s.cat.GraceDays(r.Context(), p.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ok {
		info.GraceDays = &days
	}
	s.replyProductInfo(w, r, info, true)
}

// replyProductInfo answers a product's public part. A request with a nonce
// (the SDK's) gets it signed like an error, so that a hardware salt from a
// fake server is refused before anything is hashed with it; one without
// (a browser) gets it unsigned, and cacheable if public says so. The answer
// varies with Echt-Nonce: a cache never gives its unsigned copy to a
// request with a nonce.
func (s *Server) replyProductInfo(w http.ResponseWriter, r *http.Request, info api.ProductInfo, public bool) {
	body, err := json.Marshal(info)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body = append(body, '\n')
	w.Header().Set("Vary", api.NonceHeader)
	switch {
	case r.Header.Get(api.NonceHeader) != "":
		w.Header().Set("Cache-Control", "no-store")
		s.signResponse(w, r, http.StatusOK, body)
	case public:
		w.Header().Set("Cache-Control", "public, max-age=300")
	default:
		w.Header().Set("Cache-Control", "no-store")
	}
	writeJSONLine(w, http.StatusOK, body)
}

// keyProduct tells a client which product a key is for, with the
// product's hardware salt, before it activates (activation.ProductOfKey).
func (s *Server) keyProduct(w http.ResponseWriter, r *http.Request) {
	var req api.KeyCheckRequest
	if err := s.decode(r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.activation.ProductOfKey(r.Context(), req.Key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.replyProductInfo(w, r, api.ProductInfo{ID: p.ID, Name: p.Name, HardwareSalt: p.HardwareSalt}, false)
}

func (s *Server) activate(w http.ResponseWriter, r *http.Request) {
	req, err := decodeActivate(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.activation.Activate(r.Context(), activation.Request{Key: req.Key, Product: req.Product, Hardware: req.Hardware, Nonce: req.Nonce, Server: s.publicURL(r), Replaces: req.Replaces})
	if err != nil {
		reason := string(failureCode(err))
		if clientGone(r, err) {
			reason = "CLIENT_CLOSED"
		}
		s.metrics.activations.WithLabelValues(reason).Inc()
		s.fail(w, r, err)
		return
	}
	s.metrics.activations.WithLabelValues(string(res.Reason)).Inc()
	status := http.StatusOK
	if res.Reason == problem.Activated {
		status = http.StatusCreated
	}
	// The license is the signed envelope as the signer wrote it (compact),
	// spliced in rather than re-scanned by encoding/json.
	body, err := api.EncodeActivateResponse(api.ActivateResponse{
		License: res.License, ActivationID: res.Activation.ID, Reason: string(res.Reason),
		Product: res.SKU.ProductID, Edition: res.SKU.Edition, SKU: res.SKU.ID, Channel: res.SKU.Channel,
		PartialKey: productkey.Partial(res.Activation.LastGroup), NotAfter: res.Activation.NotAfter,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, body)
}

func (s *Server) deactivate(w http.ResponseWriter, r *http.Request) {
	var req api.DeactivateRequest
	if err := s.decode(r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.License) == 0 || string(req.License) == "null" {
		s.fail(w, r, problem.New(problem.InvalidRequest, "license: the license the device holds is required"))
		return
	}
	if len(req.Nonce) == 0 || len(req.Nonce) > activation.MaxNonce {
		s.fail(w, r, problem.Newf(problem.InvalidRequest, "nonce: 1 to %d characters, fresh for each request (the answer is signed over it)", activation.MaxNonce))
		return
	}
	act, err := s.activation.Deactivate(r.Context(), req.License, req.Hardware)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Signed like errors: a client removes its license only on the
	// publisher's word, never on a fake server's.
	body, err := json.Marshal(api.DeactivateResponse{ActivationID: act.ID, Status: act.Status, Nonce: req.Nonce})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body = append(body, '\n')
	s.signResponse(w, r, http.StatusOK, body)
	writeJSONLine(w, http.StatusOK, body)
}

// checkKey is the public "is this key genuine?" check. It says whether a
// key is genuine and whether it is in use, never by whom or where.
func (s *Server) checkKey(w http.ResponseWriter, r *http.Request) {
	var req api.KeyCheckRequest
	if err := s.decode(r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if strings.TrimSpace(req.Key) == "" {
		s.fail(w, r, problem.New(problem.InvalidRequest, "key: the product key to check is required"))
		return
	}
	out := api.KeyCheckResponse{}
	_, rec, err := s.keys.Resolve(r.Context(), req.Key)
	switch code := problem.CodeOf(err); {
	case err == nil:
	case code == problem.KeyTypo:
		out.Status, out.Reason = "typo", string(code)
		reply(w, http.StatusOK, out)
		return
	case code == problem.KeyInvalid:
		out.Status, out.Reason = "invalid", string(code)
		reply(w, http.StatusOK, out)
		return
	default:
		s.fail(w, r, err)
		return
	}
	sku, err := s.cat.SKU(r.Context(), rec.SKUID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.cat.Product(r.Context(), sku.ProductID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	out.Product, out.ProductName, out.Edition, out.Channel = sku.ProductID, p.Name, sku.Edition, sku.Channel
	switch {
	case rec.Blocked:
		out.Status, out.Reason = "blocked", string(problem.KeyBlocked)
	case rec.ActiveActivations > 0 || (rec.Activations > 0 && sku.Channel == "oem"):
		out.Genuine, out.Status, out.Reason = true, "activated", string(problem.Genuine)
	default:
		out.Genuine, out.Status, out.Reason = true, "unused", string(problem.Genuine)
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	// The request body and the answer are read and written in lent
	// buffers, given back once the answer is written: validation is the
	// busiest endpoint, and its few kilobytes each way would otherwise be
	// allocated and collected on every request. Nothing kept after the
	// request refers to them (the decoded members are copies).
	in, out := bufpool.Get(), bufpool.Get()
	s.validateWith(w, r, in, out)
	// Not deferred: after a panic, the recovering middleware's answer is
	// signed over the request body, still in in.
	bufpool.Put(in)
	bufpool.Put(out)
}

func (s *Server) validateWith(w http.ResponseWriter, r *http.Request, in, out *[]byte) {
	req, err := decodeValidate(r, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lang := reasons.Negotiate(req.Lang, r.Header.Get("Accept-Language"))
	res, err := s.validation.Validate(r.Context(), validation.Request{License: req.License, Hardware: req.Hardware, Nonce: req.Nonce, Lang: lang, BaseURL: s.publicURL(r)})
	if err != nil {
		reason := string(failureCode(err))
		if clientGone(r, err) {
			reason = "CLIENT_CLOSED"
		}
		s.metrics.validations.WithLabelValues("ERROR", reason).Inc()
		s.fail(w, r, err)
		return
	}
	defer res.Release()
	v := res.Verdict
	s.metrics.validations.WithLabelValues(v.Status, v.Reason).Inc()
	body, err := api.AppendValidateResponse(*out, api.ValidateResponse{Verdict: res.Envelope, Status: v.Status, Reason: v.Reason, Remedy: v.Remedy, CheckedAt: v.CheckedAt, NextCheck: v.NextCheck, ResultsURL: v.ResultsURL})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	*out = body
	writeJSON(w, http.StatusOK, body)
}

// decodeActivate reads an activation request: the usual request (known
// members, plain strings) directly, anything else with encoding/json.
func decodeActivate(r *http.Request) (api.ActivateRequest, error) {
	var req api.ActivateRequest
	b, err := readBody(r, nil)
	if err != nil {
		return req, err
	}
	if activateFast(b, &req) {
		return req, nil
	}
	req = api.ActivateRequest{}
	return req, decodeBytes(b, &req, false)
}

func activateFast(b []byte, req *api.ActivateRequest) bool {
	var room [8]member
	f, err := fields(b, room[:0])
	if err != nil {
		return false
	}
	for _, m := range f {
		ok, raw := false, m.value
		switch string(m.name) {
		case "key":
			req.Key, ok = plainString(raw)
		case "product":
			req.Product, ok = plainString(raw)
		case "nonce":
			req.Nonce, ok = plainString(raw)
		case "hardware":
			req.Hardware, ok = profileFast(raw)
		}
		if !ok {
			return false
		}
	}
	return true
}

// stringMember decodes a string member, directly when it is plain.
func stringMember(raw []byte, dst *string) error {
	if s, ok := plainString(raw); ok {
		*dst = s
		return nil
	}
	return json.Unmarshal(raw, dst)
}

// decodeValidate reads a validation request. The license, most of the
// bytes, is lifted out without decoding (the validation service verifies
// it, or finds its digest among the licenses it verified); the small
// members are read directly when plain, else with encoding/json. An
// unknown member sends the whole body to encoding/json.
//
// The body is read into buf (updated to the grown slice), which the
// caller must keep until it is done with the request: the license refers
// to it.
func decodeValidate(r *http.Request, buf *[]byte) (api.ValidateRequest, error) {
	var req api.ValidateRequest
	b, err := readBody(r, *buf)
	if b != nil {
		*buf = b
	}
	if err != nil {
		return req, err
	}
	var room [8]member
	f, err := fields(b, room[:0])
	lic, ok := f.get("license")
	if err != nil || !ok || len(lic) == 0 || lic[0] != '{' {
		return req, decodeBytes(b, &req, false)
	}
	req.License = lic
	for _, m := range f {
		var err error
		raw := m.value
		switch string(m.name) {
		case "license":
		case "hardware":
			var ok bool
			if req.Hardware, ok = profileFast(raw); !ok {
				err = json.Unmarshal(raw, &req.Hardware)
			}
		case "nonce":
			err = stringMember(raw, &req.Nonce)
		case "lang":
			err = stringMember(raw, &req.Lang)
		default:
			// encoding/json matches member names case-insensitively:
			// leave anything unusual to it, from a clean slate.
			var all api.ValidateRequest
			err := decodeBytes(b, &all, false)
			return all, err
		}
		if err != nil {
			return req, problem.Newf(problem.InvalidRequest, "the request body is not valid JSON for this endpoint: %s: %v", m.name, err)
		}
	}
	return req, nil
}
