package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/echt-dev/echt/internal/auth"
	"github.com/echt-dev/echt/internal/catalog"
	"github.com/echt-dev/echt/internal/keys"
	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/problem"
)

func (s *Server) principal(r *http.Request) auth.Principal {
	if p := info(r).principal; p != nil {
		return *p
	}
	return auth.Principal{TokenID: "anonymous"}
}

func (s *Server) catalogActor(r *http.Request) catalog.Actor {
	return catalog.Actor{ID: s.principal(r).TokenID, RequestID: RequestID(r)}
}

func (s *Server) keysActor(r *http.Request) keys.Actor {
	return keys.Actor{ID: s.principal(r).TokenID, RequestID: RequestID(r)}
}

// ProductView is a product in API responses.
type ProductView struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	HardwareSalt []byte    `json:"hardware_salt"`
	CreatedAt    time.Time `json:"created_at"`
}

func productView(p store.Product) ProductView {
	return ProductView{ID: p.ID, Name: p.Name, HardwareSalt: p.HardwareSalt, CreatedAt: p.CreatedAt}
}

// PolicyView is a SKU policy in API requests and responses.
type PolicyView struct {
	MaxDevices      int `json:"max_devices"`
	ValidDays       int `json:"valid_days"`
	GraceDays       int `json:"grace_days"`
	Tolerance       int `json:"tolerance"`
	RevalidateHours int `json:"revalidate_hours"`
	ReminderMinutes int `json:"reminder_minutes"`
	EscalateDays    int `json:"escalate_days"`
}

// SKUView is a SKU in API responses.
type SKUView struct {
	ID           string     `json:"id"`
	Product      string     `json:"product"`
	Edition      string     `json:"edition"`
	Channel      string     `json:"channel"`
	Policy       PolicyView `json:"policy"`
	Entitlements []string   `json:"entitlements"`
	KeyGroup     uint16     `json:"key_group"`
	KeysIssued   uint32     `json:"keys_issued"`
	CreatedAt    time.Time  `json:"created_at"`
}

func skuView(k store.SKU) SKUView {
	p := k.Policy
	ents := k.Entitlements
	if ents == nil {
		ents = []string{}
	}
	return SKUView{ID: k.ID, Product: k.ProductID, Edition: k.Edition, Channel: k.Channel, Entitlements: ents, KeyGroup: k.Group, KeysIssued: k.NextSerial, CreatedAt: k.CreatedAt,
		Policy: PolicyView{MaxDevices: p.MaxDevices, ValidDays: p.ValidDays, GraceDays: p.GraceDays, Tolerance: p.Tolerance, RevalidateHours: p.RevalidateHours, ReminderMinutes: p.ReminderMinutes, EscalateDays: p.EscalateDays}}
}

func (s *Server) createProduct(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := s.decode(r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.catalog.CreateProduct(r.Context(), s.catalogActor(r), req.ID, req.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusCreated, productView(p))
}

func (s *Server) listProducts(w http.ResponseWriter, r *http.Request) {
	ps, err := s.catalog.Products(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]ProductView, 0, len(ps))
	for _, p := range ps {
		out = append(out, productView(p))
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) getProduct(w http.ResponseWriter, r *http.Request) {
	p, err := s.catalog.Product(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, productView(p))
}

func (s *Server) createSKU(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID      string     `json:"id"`
		Product string     `json:"product"`
		Edition string     `json:"edition"`
		Channel string     `json:"channel"`
		Policy  PolicyView `json:"policy"`
		// ZeroOnPurpose names policy fields whose 0 is meant as it is
		// ("tolerance", "grace_days"), not as the channel's default.
		ZeroOnPurpose []string `json:"zero_on_purpose"`
		Entitlements  []string `json:"entitlements"`
	}
	if err := s.decode(r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	p := req.Policy
	var zero catalog.ZeroOnPurpose
	for _, f := range req.ZeroOnPurpose {
		switch f {
		case "tolerance":
			zero.Tolerance = p.Tolerance == 0
		case "grace_days":
			zero.GraceDays = p.GraceDays == 0
		default:
			s.fail(w, r, problem.Newf(problem.InvalidRequest, "zero_on_purpose: %q may not be zero on purpose: name tolerance or grace_days", f))
			return
		}
	}
	sku, err := s.catalog.CreateSKU(r.Context(), s.catalogActor(r), catalog.SKUSpec{
		ID: req.ID, ProductID: req.Product, Edition: req.Edition, Channel: catalog.Channel(req.Channel), Entitlements: req.Entitlements,
		Policy: store.Policy{MaxDevices: p.MaxDevices, ValidDays: p.ValidDays, GraceDays: p.GraceDays, Tolerance: p.Tolerance, RevalidateHours: p.RevalidateHours, ReminderMinutes: p.ReminderMinutes, EscalateDays: p.EscalateDays},
		Zero:   zero,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusCreated, skuView(sku))
}

func (s *Server) listSKUs(w http.ResponseWriter, r *http.Request) {
	ks, err := s.catalog.SKUs(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	product := r.URL.Query().Get("product")
	if product != "" {
		// A product that does not exist is a typo, not an empty list.
		if _, err := s.catalog.Product(r.Context(), product); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	out := make([]SKUView, 0, len(ks))
	for _, k := range ks {
		if product == "" || k.ProductID == product {
			out = append(out, skuView(k))
		}
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) getSKU(w http.ResponseWriter, r *http.Request) {
	k, err := s.catalog.SKU(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, skuView(k))
}

func (s *Server) generateKeys(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Count int `json:"count"`
	}
	if err := s.decode(r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.keys.Generate(r.Context(), s.keysActor(r), r.PathValue("id"), req.Count)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.keysIssued.Add(float64(len(b.Keys)))
	w.Header().Set("Cache-Control", "no-store")
	reply(w, http.StatusCreated, struct {
		keys.Batch
		Count int `json:"count"`
	}{b, len(b.Keys)})
}

// keyRequest names a key; blockRequest adds the reason (only blocking
// takes one: admin bodies refuse fields their endpoint does not use).
type keyRequest struct {
	Key string `json:"key"`
}

type blockRequest struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

func (s *Server) lookupKey(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if err := s.decode(r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	inf, err := s.keys.Lookup(r.Context(), req.Key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, inf)
}

func (s *Server) blockKey(w http.ResponseWriter, r *http.Request) {
	var req blockRequest
	if err := s.decode(r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	inf, err := s.keys.SetBlocked(r.Context(), s.keysActor(r), req.Key, true, req.Reason)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, inf)
}

func (s *Server) unblockKey(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if err := s.decode(r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	inf, err := s.keys.SetBlocked(r.Context(), s.keysActor(r), req.Key, false, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, inf)
}

// TokenView is a token in API responses; Token is set only at creation.
type TokenView struct {
	ID          string    `json:"id"`
	Token       string    `json:"token,omitempty"`
	Role        string    `json:"role"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
}

func tokenView(t store.Token) TokenView {
	return TokenView{ID: t.ID, Role: t.Role, Description: t.Description, CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt}
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Role        string `json:"role"`
		Description string `json:"description"`
	}
	if err := s.decode(r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	token, rec, err := s.tokens.Create(r.Context(), s.principal(r), RequestID(r), auth.Role(req.Role), req.Description)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := tokenView(rec)
	v.Token = token
	w.Header().Set("Cache-Control", "no-store")
	reply(w, http.StatusCreated, v)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.tokens.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]TokenView, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenView(t))
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	rec, err := s.tokens.Revoke(r.Context(), s.principal(r), RequestID(r), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, tokenView(rec))
}

// AuditView is an audit entry in API responses.
type AuditView struct {
	Seq       int64           `json:"seq"`
	At        time.Time       `json:"at"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	Target    string          `json:"target,omitempty"`
	Detail    json.RawMessage `json:"detail"`
	RequestID string          `json:"request_id,omitempty"`
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var aq store.AuditQuery
	var err error
	if v := q.Get("after"); v != "" {
		if aq.AfterSeq, err = strconv.ParseInt(v, 10, 64); err != nil || aq.AfterSeq < 0 {
			s.fail(w, r, problem.New(problem.InvalidRequest, "after must be a non-negative sequence number"))
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if aq.Limit, err = strconv.Atoi(v); err != nil || aq.Limit < 1 || aq.Limit > 1000 {
			s.fail(w, r, problem.New(problem.InvalidRequest, "limit must be between 1 and 1000"))
			return
		}
	}
	aq.Action = q.Get("action")
	es, err := s.st.Audit(r.Context(), aq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]AuditView, 0, len(es))
	for _, e := range es {
		d := json.RawMessage(e.Detail)
		if !json.Valid(d) {
			d = json.RawMessage("{}")
		}
		out = append(out, AuditView{Seq: e.Seq, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: d, RequestID: e.RequestID})
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) rotateKeyring(w http.ResponseWriter, r *http.Request) {
	if err := noFields(r); err != nil {
		s.fail(w, r, err)
		return
	}
	a := store.AuditEntry{At: time.Now().UTC(), Actor: s.principal(r).TokenID, Action: "keyring.rotate", Detail: "{}", RequestID: RequestID(r)}
	// Rotate reloads the keyring too: in turn with the reloads the change
	// feed makes, so that an older read cannot land after it.
	s.reloadMu.Lock()
	k, err := s.kr.Rotate(r.Context(), s.st, a)
	s.reloadMu.Unlock()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, k)
}

// ActivationView is an activation in admin responses.
type ActivationView struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	Product    string    `json:"product"`
	SKU        string    `json:"sku"`
	PartialKey string    `json:"partial_key"`
	CreatedAt  time.Time `json:"created_at"`
	NotAfter   time.Time `json:"not_after,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	EndReason  string    `json:"end_reason,omitempty"`
	PriorID    string    `json:"prior_activation_id,omitempty"`
	// Unchanged is set by revoke when the activation had already ended:
	// nothing was written, nor added to the audit log.
	Unchanged bool `json:"unchanged,omitempty"`
}

func activationView(a store.Activation) ActivationView {
	return ActivationView{ID: a.ID, Status: a.Status, Product: a.ProductID, SKU: a.SKUID, PartialKey: productkey.Partial(a.LastGroup), CreatedAt: a.CreatedAt, NotAfter: a.NotAfter, EndedAt: a.EndedAt, EndReason: a.EndReason, PriorID: a.PriorID}
}

func (s *Server) getActivation(w http.ResponseWriter, r *http.Request) {
	a, err := s.activation.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, activationView(a))
}

func (s *Server) revokeActivation(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := s.decode(r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	a, revoked, err := s.activation.Revoke(r.Context(), s.principal(r).TokenID, RequestID(r), r.PathValue("id"), req.Reason)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := activationView(a)
	v.Unchanged = !revoked
	reply(w, http.StatusOK, v)
}
