// Package activation binds product keys to devices: activation with a key,
// re-activation of a device that already holds a digital license,
// deactivation, and the seat rules of each channel. It signs the license a
// device receives.
//
// Seat limits hold under any concurrency because the rule (Service.decide)
// runs inside the store's transaction that holds the key's row lock.
package activation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/echt-dev/echt/internal/catalog"
	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/ident"
	"github.com/echt-dev/echt/internal/keyring"
	"github.com/echt-dev/echt/internal/license"
	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/internal/signing"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/text"
	"github.com/echt-dev/echt/problem"
)

// Store is what activation needs.
type Store interface {
	Key(ctx context.Context, hash []byte) (store.Key, error)
	Activate(ctx context.Context, keyHash []byte, anchors [][]byte, decide store.DecideFunc) (store.Activation, bool, error)
	Activation(ctx context.Context, id string) (store.Activation, error)
	ActivationsByAnchors(ctx context.Context, productID string, anchors [][]byte) ([]store.Activation, error)
	EndActivation(ctx context.Context, id, status, reason string, at time.Time, check func(store.Activation) error, a *store.AuditEntry) (store.Activation, error)
}

// Service activates and deactivates devices.
type Service struct {
	st      Store
	catalog *catalog.Cache
	kr      *keyring.Keyring
	signer  *signing.BatchSigner
	verify  *signing.Verifier
	log     *slog.Logger
	now     func() time.Time
}

// New returns an activation service.
func New(st Store, cat *catalog.Cache, kr *keyring.Keyring, signer *signing.BatchSigner, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, catalog: cat, kr: kr, signer: signer, verify: signing.NewVerifier(kr.RootPublic()), log: log, now: time.Now}
}

// Request is an activation request.
type Request struct {
	Key      string // empty: use the device's digital license of Product
	Product  string
	Hardware hardware.Profile
	Nonce    string
	Server   string // the server's public URL, recorded in the license
	// Replaces is the license the device holds now, if any: a new key
	// entered on this device takes that activation's place.
	Replaces []byte
}

// Result is a successful activation.
type Result struct {
	Reason     problem.Code // Activated, AlreadyActivated or DigitalLicense
	Activation store.Activation
	SKU        store.SKU
	License    []byte
}

// MaxNonce bounds the client nonce.
const MaxNonce = 128

func checkRequest(r Request) error {
	if len(r.Nonce) == 0 || len(r.Nonce) > MaxNonce {
		return problem.Newf(problem.InvalidRequest, "nonce: 1 to %d characters, fresh for each request (the answer is signed over it)", MaxNonce)
	}
	if err := r.Hardware.Validate(); err != nil {
		return problem.Newf(problem.HardwareProfileInvalid, "hardware profile: %v", err)
	}
	return nil
}

// Activate activates a device with a key, or finds its digital license.
func (s *Service) Activate(ctx context.Context, r Request) (Result, error) {
	if err := checkRequest(r); err != nil {
		return Result{}, err
	}
	if r.Key == "" {
		return s.digital(ctx, r)
	}
	k, sku, err := s.skuOfKey(ctx, r.Key)
	if err != nil {
		return Result{}, err
	}
	if r.Product != "" && r.Product != sku.ProductID {
		return Result{}, problem.Newf(problem.SKUMismatch, "this key is for %s, not for %s", sku.ProductID, r.Product)
	}
	product, err := s.catalog.Product(ctx, sku.ProductID)
	if err != nil {
		return Result{}, err
	}
	hash := s.kr.ProductKeys().Hash(k)
	replaced, changed, err := s.presented(r, sku)
	if err != nil {
		return Result{}, err
	}
	// After a change of components, the device's own activation must be
	// among the candidates to be released, though the components it is
	// indexed by may be gone.
	var earlier *hardware.Profile
	if changed.id != "" {
		earlier = &changed.hw
	}
	anchors := hardware.LookupAnchors(r.Hardware, earlier)

	now := s.now().UTC().Truncate(time.Millisecond)
	profileJSON := r.Hardware.AppendJSON(make([]byte, 0, 512)) // as encoding/json writes it
	// Made here, not in the decision: the store calls it on its writer,
	// whose time bounds every activation's.
	id, indexAnchors := ident.New("act"), r.Hardware.IndexAnchors()
	// Every SKU, to tell a repair from a purchase (catalog.Supersedes) by
	// the device's earlier activation: read before, not on the writer.
	skus, err := s.catalog.AllSKUs(ctx)
	if err != nil {
		return Result{}, err
	}
	act, created, err := s.st.Activate(ctx, hash, anchors, func(key store.Key, cands []store.Activation) (store.Decision, error) {
		return decide(key, cands, sku, skus, r.Hardware, replaced, changed.id, now, func(prior string) *store.Activation {
			return &store.Activation{
				ID: id, SKUID: sku.ID, ProductID: sku.ProductID, LastGroup: k.LastGroup(),
				Profile: profileJSON, Anchors: indexAnchors, CreatedAt: now, PriorID: prior,
				NotAfter: validUntil(key, sku, now),
			}
		})
	})
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, problem.New(problem.KeyInvalid, "this product key was never issued")
	}
	if err != nil {
		return Result{}, err
	}
	reason := problem.Activated
	if replaced != "" {
		// Also when this key was already active here: an earlier attempt
		// may have ended before the release.
		// Not cut short by a client that hangs up, but bounded.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		s.releaseReplaced(rctx, replaced, hash, k.LastGroup())
		cancel()
	}
	if !created {
		reason = problem.AlreadyActivated
		if !act.NotAfter.IsZero() && !now.Before(act.NotAfter) {
			return Result{}, problem.Newf(problem.LicenseExpired, "this activation expired on %s: renew your subscription", act.NotAfter.Format(time.DateOnly))
		}
		// Entering the original key after a repair: release the activation
		// a technician made with another key on this device.
		s.releaseReplacements(ctx, act, r.Hardware)
	}
	var hw *hardware.Profile
	if created {
		hw = &r.Hardware // what the new activation stored
	}
	lic, err := s.sign(ctx, product, sku, act, hw, r, now)
	if err != nil {
		return Result{}, err
	}
	return Result{Reason: reason, Activation: act, SKU: sku, License: lic}, nil
}

// skuOfKey checks a key's checksum and MAC and finds its SKU, without
// reading the key's record: whether it was issued, and its seats, are the
// store's business at activation.
func (s *Service) skuOfKey(ctx context.Context, raw string) (productkey.Key, store.SKU, error) {
	k, v := s.kr.ProductKeys().Classify(raw)
	switch v {
	case productkey.Typo:
		return k, store.SKU{}, problem.New(problem.KeyTypo, "the product key has a typing error: check each character against your certificate of authenticity or receipt")
	case productkey.Forged:
		return k, store.SKU{}, problem.New(problem.KeyInvalid, "this is not a valid product key for this publisher")
	}
	sku, err := s.catalog.SKUByGroup(ctx, k.Group)
	if problem.CodeOf(err) == problem.SKUNotFound {
		return k, store.SKU{}, problem.New(problem.KeyInvalid, "this product key belongs to no product of this publisher")
	}
	return k, sku, err
}

// ProductOfKey returns the product a key is for, so that a client can hash
// its hardware with the product's salt before it activates. It tells no
// more than an activation attempt would: a typo, a key that is not this
// publisher's, or the product; never whether or where the key is in use.
func (s *Service) ProductOfKey(ctx context.Context, raw string) (store.Product, error) {
	_, sku, err := s.skuOfKey(ctx, raw)
	if err != nil {
		return store.Product{}, err
	}
	return s.catalog.Product(ctx, sku.ProductID)
}

// presented reads the license a request presents as the device's current
// one (Replaces): it must be the publisher's and of this product. It
// returns the id of the activation a new key replaces on this device
// (replaced: the license matches the device), or the id of the activation
// this device held before its hardware changed too much (changed: the same
// system board, hardware.SameBoard), which its own key may take the place
// of (decide). An empty Replaces presents nothing.
func (s *Service) presented(r Request, sku store.SKU) (replaced string, changed changedDevice, err error) {
	if len(r.Replaces) == 0 {
		return "", changed, nil
	}
	l, err := s.verifyOwn(r.Replaces)
	if err != nil {
		return "", changed, problem.Wrap(problem.LicenseTampered, "the license this device holds (replaces) is not a valid license of this publisher: remove it and activate again", err)
	}
	switch {
	case l.Product != sku.ProductID:
		return "", changed, nil // another product's: nothing to replace
	case hardware.Match(l.Hardware, r.Hardware, l.Tolerance).Same:
		return l.ActivationID, changed, nil
	case hardware.SameBoard(l.Hardware, r.Hardware):
		return "", changedDevice{id: l.ActivationID, hw: l.Hardware}, nil
	}
	return "", changed, nil // another device's
}

// changedDevice is the activation a device held before its components
// changed too much, and the profile it was made with.
type changedDevice struct {
	id string
	hw hardware.Profile
}

// releaseReplaced ends the activation a new key took the place of on this
// device, where its channel lets it move (an OEM activation stays, unused).
func (s *Service) releaseReplaced(ctx context.Context, id string, newKey []byte, lastGroup string) {
	_, err := s.st.EndActivation(ctx, id, store.StatusDeactivated, "replaced on this device by the key "+productkey.Partial(lastGroup), s.now().UTC(), func(a store.Activation) error {
		if a.Status != store.StatusActive || bytes.Equal(a.KeyHash, newKey) {
			return errNothingToRelease
		}
		sku, err := s.catalog.SKU(ctx, a.SKUID)
		if err != nil {
			return err
		}
		if !catalog.Channel(sku.Channel).Transferable() {
			return errNothingToRelease
		}
		return nil
	}, nil)
	if err != nil && !errors.Is(err, errNothingToRelease) {
		s.log.Warn("release replaced activation", "activation_id", id, "error", err)
	}
}

var errNothingToRelease = errors.New("activation: nothing to release")

// decide is the seat rule, run inside the store's transaction. The
// candidates are the product's active activations sharing a component with
// this device, made with this key or another. replaced is the activation
// the device says this key replaces (its current license), not a repair;
// nor is a key whose SKU supersedes the original's (catalog.Supersedes; skus
// holds every SKU by id).
// changed is the activation of the license the device holds from before
// its hardware changed too much (same system board): made with this key,
// on a channel whose licences move, the new activation takes its place in
// the same transaction (Decision.Release), so its seat goes nowhere else.
func decide(key store.Key, cands []store.Activation, sku store.SKU, skus map[string]store.SKU, hw hardware.Profile, replaced, changed string, now time.Time, fresh func(prior string) *store.Activation) (store.Decision, error) {
	if key.Blocked {
		return store.Decision{}, blocked(key.BlockReason)
	}
	// The repair case: this device's original activation, made with another
	// key, is remembered on the new activation. The original is the newest
	// activation on the device that is not itself a repair (an upgrade
	// supersedes what it replaced, even an OEM activation that stays); when
	// the device says this key replaces it, or the key is a purchase that
	// supersedes it (a volume licence, another edition, a licence without
	// an end after one with an end, anything after a trial), there is no
	// repair.
	var orig *store.Activation
	for i, c := range cands {
		var p hardware.Profile
		if json.Unmarshal(c.Profile, &p) != nil {
			continue
		}
		m := hardware.Match(p, hw, sku.Policy.Tolerance)
		if !m.Same {
			continue
		}
		if bytes.Equal(c.KeyHash, key.Hash) {
			return store.Decision{Existing: c.ID}, nil
		}
		// Another key's activation is this device's original only on
		// evidence that others cannot copy (as for a digital license
		// without the key): a MAC or system UUID alone is seen from
		// outside, and an activation made of such values must not turn a
		// stranger's purchase into a "repair".
		if c.PriorID == "" && m.EnoughWithoutKey() && (orig == nil || newer(c, *orig)) {
			orig = &cands[i]
		}
	}
	prior := ""
	if orig != nil && orig.ID != replaced {
		prior = orig.ID
		ends := !validUntil(key, sku, now).IsZero()
		if e, ok := skus[orig.SKUID]; ok && catalog.Supersedes(sku, ends, e, !orig.NotAfter.IsZero()) {
			prior = ""
		}
	}
	if !key.NotAfter.IsZero() && !now.Before(key.NotAfter) {
		return store.Decision{}, problem.Newf(problem.LicenseExpired, "this key's validity ended on %s: renew your subscription or buy a licence", key.NotAfter.Format(time.DateOnly))
	}
	// An OEM key stays with its device while that activation lasts; once
	// the publisher revoked it (a support case: a repaired PC), the key is
	// usable again, as every revoked key is.
	if catalog.Channel(sku.Channel) == catalog.OEM && key.ActiveActivations > 0 {
		return store.Decision{}, problem.New(problem.KeyInUseElsewhere, "this OEM key is bound to the device it was first activated on and cannot move to another device; if this is that device after a repair, ask the publisher's support to revoke the old activation")
	}
	release, active := "", key.ActiveActivations
	if changed != "" && catalog.Channel(sku.Channel).Transferable() {
		for _, c := range cands {
			if c.ID == changed && bytes.Equal(c.KeyHash, key.Hash) {
				release, active = c.ID, active-1
			}
		}
	}
	if active >= sku.Policy.MaxDevices {
		if sku.Policy.MaxDevices == 1 {
			if !catalog.Channel(sku.Channel).Transferable() {
				return store.Decision{}, problem.Newf(problem.KeyInUseElsewhere, "this %s key is already in use on another device and cannot be moved from it: buy another licence for this device", sku.Channel)
			}
			return store.Decision{}, problem.New(problem.KeyInUseElsewhere, "this key is already in use on another device (1 licence = 1 PC): deactivate it there first, or buy another licence")
		}
		if !catalog.Channel(sku.Channel).Transferable() {
			// A device cannot give back a MAK or trial activation; only
			// the publisher can (revoking one).
			return store.Decision{}, problem.Newf(problem.ActivationLimitReached, "this key's %d one-time activations are all used (a %s activation cannot be moved from its device): ask the publisher to release one or for another key", sku.Policy.MaxDevices, sku.Channel)
		}
		return store.Decision{}, problem.Newf(problem.ActivationLimitReached, "this key has reached its limit of %d devices: deactivate it on one of them first, or buy more licences", sku.Policy.MaxDevices)
	}
	return store.Decision{New: fresh(prior), Release: release}, nil
}

// validUntil is when a new activation with key ends: the key's own end
// (moving or re-entering a key never extends its validity), else the
// SKU's validity from now, else never (zero).
func validUntil(key store.Key, sku store.SKU, now time.Time) time.Time {
	switch {
	case !key.NotAfter.IsZero():
		return key.NotAfter
	case sku.Policy.ValidDays > 0:
		return now.Add(time.Duration(sku.Policy.ValidDays) * 24 * time.Hour)
	}
	return time.Time{}
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// newer orders activations by creation; ids are time-ordered too.
func newer(a, b store.Activation) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}

func blocked(reason string) *problem.Error {
	detail := "this product key has been blocked by the publisher"
	if reason == "counterfeit" {
		detail = "this product key was reported as counterfeit and has been blocked"
	} else if reason != "" {
		detail += " (" + reason + ")"
	}
	return problem.New(problem.KeyBlocked, detail).With("block_reason", reason)
}

func (s *Service) sameDevice(ctx context.Context, a store.Activation, hw hardware.Profile) bool {
	return s.match(ctx, a, hw).Same
}

// match compares hw with an activation's stored profile under its SKU's
// tolerance; a profile that cannot be read matches nothing.
func (s *Service) match(ctx context.Context, a store.Activation, hw hardware.Profile) hardware.Verdict {
	var p hardware.Profile
	if json.Unmarshal(a.Profile, &p) != nil {
		return hardware.Verdict{}
	}
	tol := catalog.DefaultTolerance
	if sku, err := s.catalog.SKU(ctx, a.SKUID); err == nil {
		tol = sku.Policy.Tolerance
	}
	return hardware.Match(p, hw, tol)
}

// releaseReplacements ends activations on this device made with another
// key after orig (the repair case), now that orig's key was entered again.
func (s *Service) releaseReplacements(ctx context.Context, orig store.Activation, hw hardware.Profile) {
	others, err := s.st.ActivationsByAnchors(ctx, orig.ProductID, hw.Anchors())
	if err != nil {
		s.log.Warn("release replacement activations", "activation_id", orig.ID, "error", err)
		return
	}
	for _, o := range others {
		if o.PriorID != orig.ID || !s.sameDevice(ctx, o, hw) {
			continue
		}
		// Where its channel lets it move, as in releaseReplaced: an OEM
		// activation stays (ending it would free its key for another
		// device).
		if sku, err := s.catalog.SKU(ctx, o.SKUID); err != nil || !catalog.Channel(sku.Channel).Transferable() {
			continue
		}
		if _, err := s.st.EndActivation(ctx, o.ID, store.StatusDeactivated, "replaced by the original key "+productkey.Partial(orig.LastGroup), s.now().UTC(), nil, nil); err != nil {
			s.log.Warn("release replacement activation", "activation_id", o.ID, "error", err)
		}
	}
}

// digital finds the device's existing activation of a product by hardware.
func (s *Service) digital(ctx context.Context, r Request) (Result, error) {
	if r.Product == "" {
		return Result{}, problem.New(problem.InvalidRequest, "give a product key, or the product whose digital license this device holds")
	}
	product, err := s.catalog.Product(ctx, r.Product)
	if err != nil {
		return Result{}, err
	}
	cands, err := s.st.ActivationsByAnchors(ctx, r.Product, r.Hardware.Anchors())
	if err != nil {
		return Result{}, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	type candidate struct {
		act   store.Activation
		sku   store.SKU
		trial bool
	}
	var matched []candidate
	var expired bool
	for _, c := range cands {
		m := s.match(ctx, c, r.Hardware)
		if !m.Same {
			continue
		}
		// Without the key, the device must show more than the values that
		// others may know (its MAC address, its system UUID): the license
		// it gets is enough to deactivate the activation and to get genuine
		// tickets.
		if !m.EnoughWithoutKey() {
			continue
		}
		if !c.NotAfter.IsZero() && !now.Before(c.NotAfter) {
			expired = true
			continue
		}
		sku, err := s.catalog.SKU(ctx, c.SKUID)
		if err != nil {
			return Result{}, err
		}
		matched = append(matched, candidate{act: c, sku: sku, trial: catalog.Channel(sku.Channel) == catalog.Trial})
	}
	// Prefer a purchase over a trial, then the device's original
	// activation over a repair made with another key, and of those the
	// newest (the latest upgrade). A blocked key's activation is passed
	// over for the next: a device that holds a genuine key's activation
	// besides a counterfeit one gets the genuine one back.
	slices.SortFunc(matched, func(a, b candidate) int {
		if a.trial != b.trial {
			return cmpBool(a.trial, b.trial)
		}
		if ar, br := a.act.PriorID != "", b.act.PriorID != ""; ar != br {
			return cmpBool(ar, br)
		}
		switch {
		case newer(a.act, b.act):
			return -1
		case newer(b.act, a.act):
			return 1
		}
		return 0
	})
	var found *candidate
	var blockedErr error
	for i := range matched {
		key, err := s.st.Key(ctx, matched[i].act.KeyHash)
		if err != nil {
			return Result{}, fmt.Errorf("digital license key: %w", err)
		}
		if key.Blocked {
			if blockedErr == nil {
				blockedErr = blocked(key.BlockReason)
			}
			continue
		}
		found = &matched[i]
		break
	}
	if found == nil {
		if blockedErr != nil {
			return Result{}, blockedErr
		}
		if expired {
			return Result{}, problem.New(problem.LicenseExpired, "this device's license of the product has expired: renew it or enter a new product key")
		}
		// One answer whether or not a device with these values holds a
		// license: values others can see (a MAC, a system UUID) must not
		// tell them which devices own the product.
		return Result{}, problem.Newf(problem.NoDigitalLicense, "no digital license for %s that this device can claim without the key: enter a product key (a device claims its digital license by more than its network cards and system UUID, which others may know: it also takes a disk, the board serial or the OS install id, so run with administrator rights if they could not be read)", r.Product)
	}
	lic, err := s.sign(ctx, product, found.sku, found.act, nil, r, now)
	if err != nil {
		return Result{}, err
	}
	if found.act.PriorID == "" {
		// The device's original license is back, as when its key is
		// entered again: a repair made with another key on this device
		// gives its seat back.
		s.releaseReplacements(ctx, found.act, r.Hardware)
	}
	return Result{Reason: problem.DigitalLicense, Activation: found.act, SKU: found.sku, License: lic}, nil
}

// sign signs the license of act. stored is the device's stored profile when
// the caller has it at hand (a new activation), else it is read from act.
func (s *Service) sign(ctx context.Context, product store.Product, sku store.SKU, act store.Activation, stored *hardware.Profile, r Request, now time.Time) ([]byte, error) {
	var hw hardware.Profile
	if stored != nil {
		hw = *stored
	} else if err := json.Unmarshal(act.Profile, &hw); err != nil {
		return nil, fmt.Errorf("activation %s profile: %w", act.ID, err)
	}
	l := license.License{
		LicenseID: ident.New("lic"), ActivationID: act.ID, Product: product.ID, ProductName: product.Name,
		Edition: sku.Edition, SKU: sku.ID, Channel: sku.Channel, Entitlements: sku.Entitlements,
		PartialKey: productkey.Partial(act.LastGroup), Hardware: hw, Tolerance: sku.Policy.Tolerance,
		IssuedAt: now, NotAfter: act.NotAfter, RevalidateAfter: now.Add(time.Duration(sku.Policy.RevalidateHours) * time.Hour),
		ReminderMinutes: sku.Policy.ReminderMinutes, EscalateDays: sku.Policy.EscalateDays,
		Nonce: r.Nonce, Server: r.Server,
	}
	return license.SignBatched(ctx, s.signer, l)
}

// Deactivate releases the activation of the license a device presents,
// where the channel allows it.
func (s *Service) Deactivate(ctx context.Context, licenseFile []byte, hw hardware.Profile) (store.Activation, error) {
	if err := hw.Validate(); err != nil {
		return store.Activation{}, problem.Newf(problem.HardwareProfileInvalid, "hardware profile: %v", err)
	}
	l, err := s.verifyOwn(licenseFile)
	if err != nil {
		return store.Activation{}, err
	}
	sku, err := s.catalog.SKU(ctx, l.SKU)
	if err != nil {
		return store.Activation{}, err
	}
	act, err := s.st.EndActivation(ctx, l.ActivationID, store.StatusDeactivated, "deactivated by the device", s.now().UTC(), func(a store.Activation) error {
		if a.Status == store.StatusRevoked {
			return problem.New(problem.ActivationRevoked, "this activation was revoked by the publisher")
		}
		if !catalog.Channel(sku.Channel).Transferable() {
			return problem.Newf(problem.DeactivationNotAllowed, "%s licenses cannot be moved to another device", sku.Channel)
		}
		// A device whose components changed beyond the tolerance may
		// still release its seat (and activate again); another system
		// board may not.
		var p hardware.Profile
		if json.Unmarshal(a.Profile, &p) != nil {
			return nil
		}
		v := hardware.Match(p, hw, sku.Policy.Tolerance)
		if v.Same || hardware.SameBoard(p, hw) {
			return nil
		}
		return notTheHolder(v, hw)
	}, nil)
	if errors.Is(err, store.ErrNotFound) {
		return store.Activation{}, problem.New(problem.ActivationNotFound, "the server does not know this activation")
	}
	return act, err
}

// notTheHolder is the refusal to deactivate for a device whose hardware
// does not show that it holds the activation, saying which case it is: it
// reports no system board to compare (an agent without the rights to
// read one), it reports another system board (v, the match with the
// activation's profile, says so), or too much changed.
func notTheHolder(v hardware.Verdict, current hardware.Profile) error {
	const hint = "deactivate from the device that holds the activation, or ask the publisher's support to release it"
	var detail string
	switch {
	case current.SystemUUID == "" && current.BoardSerial == "":
		detail = "this device matches the activation's hardware too little to release it, and it reports no system board to show it is the same device: run the agent with the rights to read the system UUID or board serial (as root or an administrator), deactivate from the device that holds the activation, or ask the publisher's support to release it"
	case v.Why == "board_changed":
		detail = "this is not the device that holds the activation (another system board): deactivate from that device, or ask the publisher's support to release the activation"
	default:
		detail = "this device matches the activation's hardware too little to release it: deactivate from the device that holds the activation, or ask the publisher's support to release it"
	}
	return problem.New(problem.HardwareChanged, detail).With("hint", hint)
}

// verifyOwn checks that a license a client presents was signed by this
// publisher (any of its signing keys, current or retired).
func (s *Service) verifyOwn(data []byte) (license.License, error) {
	l, _, err := license.Verify(s.verify, data)
	if err != nil {
		return license.License{}, problem.Wrap(problem.LicenseTampered, "the license file is not a valid license of this publisher", err)
	}
	return l, nil
}

// Revoke ends an activation on the publisher's decision (refund, abuse);
// the device learns it at its next online validation.
// It reports whether the activation was revoked now: one that had already
// ended is returned as it is.
func (s *Service) Revoke(ctx context.Context, actor, requestID, id, reason string) (store.Activation, bool, error) {
	if reason == "" {
		return store.Activation{}, false, problem.New(problem.InvalidRequest, "a revocation needs a reason")
	}
	if err := text.Check("reason", reason, 200); err != nil {
		return store.Activation{}, false, err
	}
	d, _ := json.Marshal(map[string]string{"reason": reason})
	now := s.now().UTC()
	a := store.AuditEntry{At: now, Actor: actor, Action: "activation.revoke", Target: id, Detail: string(d), RequestID: requestID}
	wasActive := false
	act, err := s.st.EndActivation(ctx, id, store.StatusRevoked, reason, now, func(a store.Activation) error {
		wasActive = a.Status == store.StatusActive
		return nil
	}, &a)
	if errors.Is(err, store.ErrNotFound) {
		return store.Activation{}, false, problem.Newf(problem.ActivationNotFound, "no activation %q", id)
	}
	return act, wasActive && err == nil, err
}

// Get returns an activation.
func (s *Service) Get(ctx context.Context, id string) (store.Activation, error) {
	act, err := s.st.Activation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Activation{}, problem.Newf(problem.ActivationNotFound, "no activation %q", id)
	}
	return act, err
}
