package echt

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/problem"
)

// Validate asks the server whether this copy of Config.Product is genuine
// and returns its signed verdict as a Status (Online true). Local evidence
// the server cannot see (missing or damaged files, a clock set back) is
// answered locally. When the server cannot be reached or is unavailable,
// Validate returns the offline status with Online false and the reason in
// ServerError: a copy is never declared not genuine because a server
// failed.
func (c *Client) Validate(ctx context.Context) (*Status, error) {
	return c.ValidateProduct(ctx, c.cfg.Product)
}

// ValidateProduct is Validate for a given product.
func (c *Client) ValidateProduct(ctx context.Context, product string) (*Status, error) {
	if err := checkProduct(product, "Validate", "ValidateProduct(ctx, product)"); err != nil {
		return nil, err
	}
	offline, err := c.StatusProduct(ctx, product)
	if err != nil {
		return nil, err
	}
	switch offline.Reason {
	case problem.LicenseMissing, problem.LicenseTampered, problem.ProductMismatch, problem.GracePeriod:
		return offline, nil
	case problem.NotActivated:
		if offline.VerdictID == "" {
			// No license to ask about (never activated, or released).
			return offline, nil
		}
		// The server said so of the license still here: ask again, the
		// answer may have changed (the key now in use elsewhere, say).
	}
	ll, err := c.load(ctx, product)
	if err != nil {
		return nil, err
	}
	if ll.files.license == nil || ll.files.st == nil || ll.files.stateCorrupt {
		return offline, nil
	}
	// An answer that is not the publisher's, or not to this very request
	// (replayed, or about a request altered on its way), is no answer: the
	// offline check stands, as when the server cannot be reached. Neither
	// a fake server nor a tampering network proves anything about a copy.
	untrusted := func(err error) (*Status, error) {
		offline.ServerError, offline.Online = err.Error(), false
		return offline, nil
	}
	nonce := newNonce()
	var resp api.ValidateResponse
	err = c.call(ctx, "POST", "/v1/validations", nonce, api.ValidateRequest{License: ll.files.license, Hardware: ll.profile, Nonce: nonce, Lang: c.cfg.Lang}, &resp)
	if err != nil {
		code := problem.CodeOf(err)
		if code == problem.ServerUntrusted {
			return untrusted(err)
		}
		if code == problem.ServerUnreachable || code == problem.StoreUnavailable || code == problem.Unavailable || code == problem.RateLimited || code == problem.Internal {
			// The offline check may carry the last verdict the server
			// gave; it is still not an answer from the server now.
			offline.ServerError, offline.Online = err.Error(), false
			return offline, nil
		}
		return nil, err
	}
	v, err := c.trust(ctx)
	if err != nil {
		return nil, err
	}
	vd, err := verifyVerdict(v, resp.Verdict)
	if err != nil {
		return untrusted(problem.Wrap(problem.ServerUntrusted, "the verdict is not signed by the publisher", err))
	}
	if vd.Nonce != nonce {
		return untrusted(problem.New(problem.ServerUntrusted, "the verdict was not made for this request (replayed)"))
	}
	if vd.Product != product || (vd.ActivationID != "" && vd.ActivationID != ll.lic.ActivationID) || (vd.LicenseDigest != "" && vd.LicenseDigest != api.LicenseDigest(ll.files.license)) {
		return untrusted(problem.New(problem.ServerUntrusted, "the verdict is about another license than the one this device sent (altered on the way)"))
	}
	if vd.Hardware != "" && vd.Hardware != api.HardwareDigest(ll.profile) {
		return untrusted(problem.New(problem.ServerUntrusted, "the verdict is about other hardware than this device sent (altered on the way)"))
	}
	now := c.now().UTC()
	s := &Status{
		Status: vd.Status, Reason: problem.Code(vd.Reason), Detail: vd.Remedy.Text, Product: product,
		ProductName: ll.lic.ProductName, Edition: vd.Edition, SKU: vd.SKU, Channel: ll.lic.Channel, PartialKey: vd.PartialKey,
		ActivationID: vd.ActivationID, Entitlements: vd.Entitlements, NotAfter: ll.lic.NotAfter, RevalidateAfter: vd.NextCheck,
		CheckedAt: vd.CheckedAt, Online: true, VerdictID: vd.VerdictID, ResultsURL: c.ownURL(vd.ResultsURL), NextCheck: vd.NextCheck,
	}
	remedy := vd.Remedy
	s.Remedy = &remedy
	// The server's clock is a witness: a local clock far behind it was
	// set back.
	if vd.CheckedAt.Sub(now) > c.cfg.ClockTolerance {
		s.Status, s.Reason, s.Detail, s.Remedy = StatusNotGenuine, problem.ClockTampered, "this device's clock is "+vd.CheckedAt.Sub(now).Round(time.Minute).String()+" behind the server's", nil
		// The verdict and its results page say what the server found, not
		// this: they are not this status's.
		s.VerdictID, s.ResultsURL = "", ""
		return s, nil
	}
	if vd.Status == StatusGenuine {
		s.Ticket = resp.Verdict
		s.TicketExpiresAt = vd.TicketExpiresAt
	}
	if err := c.rememberVerdict(product, ll, resp.Verdict, vd, now); err != nil {
		// The signed verdict stands; only its memory is lost.
		s.StoreError = err.Error()
	}
	if vd.Status != StatusGenuine {
		st := ll.files.st
		s.NotGenuineSince = st.NotGenuineSince
		if s.NotGenuineSince.IsZero() {
			s.NotGenuineSince = now
		}
	}
	return s, nil
}

// vouched reports whether a time the server signed agrees with the local
// clock within the tolerance.
func vouched(local, server time.Time, tol time.Duration) bool {
	d := local.Sub(server)
	return d <= tol && d >= -tol
}

// rememberVerdict stores the signed verdict in the state file, so that the
// device keeps knowing it offline: under the store's lock, onto the state
// the store holds then, and only while it holds the license validated (a
// verdict about a license replaced meanwhile is not this one's).
func (c *Client) rememberVerdict(product string, ll *loadedLicense, raw json.RawMessage, vd *Verdict, now time.Time) error {
	ls := c.local(product)
	err := ls.locked(func(cur files) error {
		if !sameLicense(cur, ll.files) {
			return nil
		}
		st := *cur.st
		st.Verdict = raw
		if now.After(st.LastSeen) || vouched(now, vd.CheckedAt, c.cfg.ClockTolerance) {
			// The server's signed time agrees with this clock: a clock that
			// once ran ahead and was put right is no longer held against it.
			st.LastSeen = now
		}
		if vd.Status == StatusGenuine {
			st.NotGenuineSince = time.Time{}
		} else if st.NotGenuineSince.IsZero() {
			st.NotGenuineSince = now
		}
		return ls.writeState(&st)
	})
	if err != nil {
		return problem.Wrap(problem.StoreCorrupt, "the verdict could not be recorded in the license store "+ls.dir+": make it writable, then validate again", err)
	}
	c.forget(product)
	return nil
}

// Ticket returns the latest genuine ticket stored for a product, if it is
// still valid: proof of a genuine copy for download and update services.
func (c *Client) Ticket(ctx context.Context, product string) ([]byte, error) {
	if err := checkProduct(product, "Ticket", ""); err != nil {
		return nil, err
	}
	ll, err := c.load(ctx, product)
	if err != nil {
		return nil, err
	}
	if ll.verdict == nil || ll.files.st == nil || ll.verdict.Status != StatusGenuine || !c.now().Before(ll.verdict.TicketExpiresAt) {
		return nil, errors.New("echt: no valid genuine ticket: validate online first")
	}
	return ll.files.st.Verdict, nil
}
