// Package validation answers "is this copy genuine?" online: it checks a
// device's license and current hardware against the server's records and
// returns a signed verdict with a stable reason code and a remedy. A GENUINE
// verdict doubles as a short-lived genuine ticket.
//
// The hot path reads only per-node caches (activations, keys, verified
// licenses), invalidated when the store reports a change; it never writes.
// A previously genuine device is declared not genuine only on positive
// evidence (a block, a revocation, a move, an expiry, a changed device, a
// bad signature), never because the server could not reach its database:
// then it answers 503 and the client keeps its last verdict.
package validation

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/bufpool"
	"github.com/echt-dev/echt/internal/cache"
	"github.com/echt-dev/echt/internal/catalog"
	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/ident"
	"github.com/echt-dev/echt/internal/jsonw"
	"github.com/echt-dev/echt/internal/keyring"
	"github.com/echt-dev/echt/internal/license"
	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/internal/reasons"
	"github.com/echt-dev/echt/internal/signing"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/problem"
)

// Statuses.
const (
	Genuine      = "GENUINE"
	NotGenuine   = "NOT_GENUINE"
	NotActivated = "NOT_ACTIVATED"
	Grace        = "GRACE"
)

// Store is what validation reads.
type Store interface {
	Activation(ctx context.Context, id string) (store.Activation, error)
	Key(ctx context.Context, hash []byte) (store.Key, error)
}

// Config tunes the service; zero values are the defaults.
type Config struct {
	// TicketTTL is how long a GENUINE verdict serves as a ticket; 0 means 1h.
	TicketTTL time.Duration
	// CacheSize bounds each cache; 0 means 200,000 entries.
	CacheSize int
	// CacheTTL bounds the age of a cached record; 0 means 5 minutes.
	CacheTTL time.Duration
}

// Service validates licenses.
type Service struct {
	cfg      Config
	st       Store
	cat      *catalog.Cache
	kr       *keyring.Keyring
	signer   *signing.BatchSigner
	verifier *signing.Verifier
	log      *slog.Logger
	now      func() time.Time
	acts     *cache.Cache[string, *cachedActivation]
	keys     *cache.Cache[string, store.Key]
	verified *cache.Cache[[32]byte, license.License]
	// macs holds keyed HMACs for results-page links: keying one costs
	// more than using it.
	macs sync.Pool
}

type cachedActivation struct {
	act     store.Activation
	profile hardware.Profile
}

// New returns a validation service.
func New(cfg Config, st Store, cat *catalog.Cache, kr *keyring.Keyring, signer *signing.BatchSigner, log *slog.Logger) *Service {
	if cfg.TicketTTL <= 0 {
		cfg.TicketTTL = time.Hour
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 200_000
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 5 * time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		cfg: cfg, st: st, cat: cat, kr: kr, signer: signer, log: log, now: time.Now,
		verifier: signing.NewVerifier(kr.RootPublic()),
		acts:     cache.New[string, *cachedActivation](cfg.CacheSize, cfg.CacheTTL),
		keys:     cache.New[string, store.Key](cfg.CacheSize, cfg.CacheTTL),
		verified: cache.New[[32]byte, license.License](cfg.CacheSize, cfg.CacheTTL),
	}
}

// Changed drops cached records the store reports as changed.
func (s *Service) Changed(c store.Change) {
	switch c.Kind {
	case store.ChangeKey:
		s.keys.Delete(c.ID)
	case store.ChangeActivation:
		s.acts.Delete(c.ID)
	case store.ChangeSigningKey:
		s.verified.Clear()
	case store.ChangeAll:
		s.keys.Clear()
		s.acts.Clear()
		s.verified.Clear()
	case store.ChangeWatchDown, store.ChangeWatchUp:
		on := c.Kind == store.ChangeWatchDown
		s.keys.Bypass(on)
		s.acts.Bypass(on)
		s.verified.Bypass(on)
	}
}

// Request is an online validation request.
type Request struct {
	License  []byte
	Hardware hardware.Profile
	Nonce    string
	Lang     string
	// BaseURL is the server's public URL, for the results page link.
	BaseURL string
}

// Result is a verdict and its signed form.
type Result struct {
	Verdict  api.Verdict
	Envelope []byte

	buf *[]byte // Envelope's memory, lent by bufpool
}

// Release gives Envelope's memory back for later validations; Envelope
// must not be used after it. A Result that is not released is simply
// collected.
func (r *Result) Release() {
	if r.buf != nil {
		*r.buf = r.Envelope[:0]
		bufpool.Put(r.buf)
	}
	r.buf, r.Envelope = nil, nil
}

// Validate decides and signs a verdict. Errors are only for requests that
// cannot be judged (malformed, or the store unavailable): a copy that is
// not genuine gets a verdict, not an error.
func (s *Service) Validate(ctx context.Context, r Request) (Result, error) {
	if len(r.Nonce) == 0 || len(r.Nonce) > 128 {
		return Result{}, problem.New(problem.InvalidRequest, "nonce: 1 to 128 characters")
	}
	if len(r.License) == 0 {
		return Result{}, problem.New(problem.InvalidRequest, "license: the license file is required")
	}
	if err := r.Hardware.Validate(); err != nil {
		return Result{}, problem.Newf(problem.HardwareProfileInvalid, "hardware profile: %v", err)
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	v := api.Verdict{Format: api.VerdictFormat, VerdictID: ident.New("vrd"), Nonce: r.Nonce, CheckedAt: now, NextCheck: now.Add(time.Duration(catalog.DefaultRevalidateHours) * time.Hour)}
	if err := s.judge(ctx, r, &v, now); err != nil {
		return Result{}, err
	}
	lang := reasons.Negotiate(r.Lang, "")
	if v.Remedy.ID == "" {
		v.Remedy = api.Remedy{ID: reasons.RemedyID(problem.Code(v.Reason)), Text: reasons.Remedy(problem.Code(v.Reason), lang)}
	}
	if v.Status == Genuine {
		v.TicketExpiresAt = now.Add(s.cfg.TicketTTL)
	}
	v.ResultsURL = strings.TrimRight(r.BaseURL, "/") + "/genuine/" + s.PageToken(v, lang)
	// The verdict and its envelope are written into lent buffers: a few
	// kilobytes that would otherwise be allocated on every validation.
	pb := bufpool.Get()
	payload, err := api.AppendVerdict(*pb, v)
	if err != nil {
		return Result{}, err
	}
	*pb = payload
	env, err := s.signer.Sign(ctx, signing.TypeVerdict, payload)
	if err != nil {
		return Result{}, err
	}
	eb := bufpool.Get()
	b, err := env.AppendJSON(*eb)
	// Sign has returned: the signer no longer reads the payload, and the
	// envelope's JSON holds a copy of it.
	bufpool.Put(pb)
	if err != nil {
		return Result{}, err
	}
	return Result{Verdict: v, Envelope: b, buf: eb}, nil
}

func verdictOf(v *api.Verdict, status string, reason problem.Code) {
	v.Status, v.Reason = status, string(reason)
}

// judge fills status and reason. It returns an error only when it cannot
// judge (a license that is not JSON, the store unavailable): then no
// verdict is given at all.
func (s *Service) judge(ctx context.Context, r Request, v *api.Verdict, now time.Time) error {
	// What the server judged, first: a client refuses a verdict about a
	// request altered on its way (another license, another device).
	digest := sha256.Sum256(r.License)
	v.Hardware, v.LicenseDigest = api.HardwareDigest(r.Hardware), api.LicenseDigestOf(digest)
	l, ok := s.verified.Get(digest)
	if !ok {
		gen := s.verified.Generation()
		var err error
		l, _, err = license.Verify(s.verifier, r.License)
		if err != nil {
			// A request whose license is not even JSON is malformed, as
			// encoding/json would have found reading the request (the
			// server lifts the license out without reading it through).
			if !json.Valid(r.License) {
				return problem.New(problem.InvalidRequest, "license: not valid JSON; send the license file as the server issued it")
			}
			verdictOf(v, NotGenuine, problem.LicenseTampered)
			return nil
		}
		s.verified.Put(gen, digest, l)
	}
	v.Product, v.Edition, v.SKU, v.Entitlements, v.ActivationID, v.PartialKey = l.Product, l.Edition, l.SKU, l.Entitlements, l.ActivationID, l.PartialKey

	ca, err := s.activation(ctx, l.ActivationID)
	if errors.Is(err, store.ErrNotFound) {
		verdictOf(v, NotActivated, problem.NotActivated)
		return nil
	}
	if err != nil {
		return err
	}
	act := ca.act
	if act.ProductID != l.Product || act.SKUID != l.SKU || productkey.Partial(act.LastGroup) != l.PartialKey {
		verdictOf(v, NotGenuine, problem.LicenseTampered)
		return nil
	}
	if sku, err := s.cat.SKU(ctx, act.SKUID); err == nil {
		v.NextCheck = now.Add(time.Duration(sku.Policy.RevalidateHours) * time.Hour)
	}
	key, err := s.key(ctx, act.KeyHash)
	if err != nil {
		return err
	}
	switch {
	case key.Blocked:
		verdictOf(v, NotGenuine, problem.KeyBlocked)
	case act.Status == store.StatusRevoked:
		verdictOf(v, NotGenuine, problem.ActivationRevoked)
	case !act.NotAfter.IsZero() && !now.Before(act.NotAfter):
		// Also after the expiry sweep ended the activation.
		verdictOf(v, NotGenuine, problem.LicenseExpired)
	case act.Status == store.StatusDeactivated && key.ActiveActivations > 0:
		verdictOf(v, NotGenuine, problem.KeyInUseElsewhere)
	case act.Status != store.StatusActive:
		verdictOf(v, NotActivated, problem.NotActivated)
	case !hardware.Match(ca.profile, r.Hardware, l.Tolerance).Same:
		verdictOf(v, NotGenuine, problem.HardwareChanged)
	default:
		verdictOf(v, Genuine, problem.Genuine)
	}
	if v.Status == Genuine && act.PriorID != "" {
		prior, err := s.activation(ctx, act.PriorID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		stands := false
		if err == nil {
			if stands, err = s.original(ctx, prior.act, now); err != nil {
				return err
			}
		}
		if stands {
			verdictOf(v, NotGenuine, problem.ReactivatedWithOtherKey)
			lang := reasons.Negotiate(r.Lang, "")
			v.Remedy = api.Remedy{
				ID:   reasons.RemedyID(problem.ReactivatedWithOtherKey),
				Text: reasons.WithKey(reasons.Remedy(problem.ReactivatedWithOtherKey, lang), productkey.Partial(prior.act.LastGroup)),
			}
		}
	}
	return nil
}

// original reports whether the activation a later one on the same device
// was made after (its PriorID) still is the device's original, so that the
// later one, made with another key, is the repair case: it is active and
// unexpired, its key is not blocked (a customer who bought a genuine key
// after a counterfeit one was blocked is not asked to enter the blocked
// key), and it is not a trial (a purchase after a trial is no repair). A
// purchase of its own (catalog.Supersedes) gets no PriorID at activation.
func (s *Service) original(ctx context.Context, a store.Activation, now time.Time) (bool, error) {
	if a.Status != store.StatusActive || !a.NotAfter.IsZero() && !now.Before(a.NotAfter) {
		return false, nil
	}
	sku, err := s.cat.SKU(ctx, a.SKUID)
	switch {
	case err == nil && catalog.Channel(sku.Channel) == catalog.Trial:
		return false, nil
	case err != nil && !errors.Is(err, store.ErrNotFound) && problem.CodeOf(err) != problem.SKUNotFound:
		// No verdict on a guess: the store's trouble is a 503.
		return false, err
	}
	k, err := s.key(ctx, a.KeyHash)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !k.Blocked, nil
}

func (s *Service) activation(ctx context.Context, id string) (*cachedActivation, error) {
	if ca, ok := s.acts.Get(id); ok {
		return ca, nil
	}
	gen := s.acts.Generation()
	act, err := s.st.Activation(ctx, id)
	if err != nil {
		return nil, err
	}
	ca := &cachedActivation{act: act}
	if err := json.Unmarshal(act.Profile, &ca.profile); err != nil {
		return nil, fmt.Errorf("activation %s profile: %w", id, err)
	}
	s.acts.Put(gen, id, ca)
	return ca, nil
}

func (s *Service) key(ctx context.Context, hash []byte) (store.Key, error) {
	id := hex.EncodeToString(hash)
	if k, ok := s.keys.Get(id); ok {
		return k, nil
	}
	gen := s.keys.Generation()
	k, err := s.st.Key(ctx, hash)
	if err != nil {
		return store.Key{}, err
	}
	s.keys.Put(gen, id, k)
	return k, nil
}

// Page is what the results page shows of a verdict.
type Page struct {
	Status     string    `json:"s"`
	Reason     string    `json:"r"`
	Product    string    `json:"p"`
	Edition    string    `json:"e,omitempty"`
	PartialKey string    `json:"k,omitempty"`
	Remedy     string    `json:"m,omitempty"`
	CheckedAt  time.Time `json:"t"`
	Lang       string    `json:"l,omitempty"`
}

// appendJSON appends p as encoding/json writes it, without reflection: a
// page token is made on every validation.
func (p Page) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"s":`...)
	b = jsonw.String(b, p.Status)
	b = append(b, `,"r":`...)
	b = jsonw.String(b, p.Reason)
	b = append(b, `,"p":`...)
	b = jsonw.String(b, p.Product)
	for _, m := range [...]struct{ name, v string }{{"e", p.Edition}, {"k", p.PartialKey}, {"m", p.Remedy}} {
		if m.v != "" {
			b = append(b, `,"`+m.name+`":`...)
			b = jsonw.String(b, m.v)
		}
	}
	b, ok := jsonw.Time(append(b, `,"t":`...), p.CheckedAt)
	if p.Lang != "" {
		b = append(b, `,"l":`...)
		b = jsonw.String(b, p.Lang)
	}
	return append(b, '}'), ok
}

// PageToken makes the verdict id of the results page: the page content,
// authenticated with the pages secret. Stateless, so every node can show
// any verdict, and nothing is written on the hot path.
func (s *Service) PageToken(v api.Verdict, lang string) string {
	p := Page{Status: v.Status, Reason: v.Reason, Product: v.Product, Edition: v.Edition, PartialKey: v.PartialKey, CheckedAt: v.CheckedAt, Lang: lang}
	if v.Reason == string(problem.ReactivatedWithOtherKey) {
		p.Remedy = v.Remedy.Text
	}
	b, ok := p.appendJSON(make([]byte, 0, 256))
	if !ok {
		b, _ = json.Marshal(p)
	}
	body := base64.RawURLEncoding.EncodeToString(b)
	return body + "." + s.mac(body)
}

func (s *Service) mac(body string) string {
	m, _ := s.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, s.kr.PagesSecret())
	}
	m.Reset()
	m.Write([]byte("echt-results-page/1\n"))
	m.Write([]byte(body))
	var sum [sha256.Size]byte
	out := base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0])[:16])
	s.macs.Put(m)
	return out
}

// ErrBadToken means a results page link was not made by this server.
var ErrBadToken = problem.New(problem.NotFound, "no such verdict: the link is incomplete or was not made by this server")

// ParsePageToken checks and decodes a verdict id.
func (s *Service) ParsePageToken(tok string) (Page, error) {
	body, mac, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 2048 || !hmac.Equal([]byte(mac), []byte(s.mac(body))) {
		return Page{}, ErrBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Page{}, ErrBadToken
	}
	var p Page
	if err := json.Unmarshal(b, &p); err != nil {
		return Page{}, ErrBadToken
	}
	return p, nil
}
