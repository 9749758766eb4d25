package echt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/license"
	"github.com/echt-dev/echt/internal/signing"
	"github.com/echt-dev/echt/problem"
)

// Statuses of a copy.
const (
	StatusGenuine      = "GENUINE"
	StatusNotGenuine   = "NOT_GENUINE"
	StatusNotActivated = "NOT_ACTIVATED"
	StatusGrace        = "GRACE"
)

// Status says whether this copy is genuine, and if not, why.
type Status struct {
	Status       string       `json:"status"`
	Reason       problem.Code `json:"reason"`
	Detail       string       `json:"detail,omitempty"`
	Product      string       `json:"product"`
	ProductName  string       `json:"product_name,omitempty"`
	Edition      string       `json:"edition"`
	SKU          string       `json:"sku,omitempty"`
	Channel      string       `json:"channel,omitempty"`
	PartialKey   string       `json:"partial_key"`
	ActivationID string       `json:"activation_id,omitempty"`
	Entitlements []string     `json:"entitlements,omitempty"`
	NotAfter     time.Time    `json:"not_after,omitzero"`
	// RevalidateAfter is when the copy should next validate online.
	RevalidateAfter time.Time `json:"revalidate_after,omitzero"`
	// GraceUntil is the end of the grace period of a copy not activated.
	GraceUntil time.Time `json:"grace_until,omitzero"`
	// CheckedAt is when the check was made: by the server's clock for an
	// online verdict (its signed checked_at), else by the device's.
	CheckedAt time.Time `json:"checked_at"`
	// Online is true when this call got the server's verdict (Validate);
	// an offline check is never Online, also when a stored verdict decides
	// it (VerdictID then names that verdict).
	Online bool `json:"online"`
	// NotGenuineSince is when the device was first seen not genuine.
	NotGenuineSince time.Time `json:"not_genuine_since,omitzero"`
	// Remedy is the server's remedy (online verdicts).
	Remedy *Remedy `json:"remedy,omitempty"`
	// VerdictID and ResultsURL name the server's results page of the
	// verdict; NextCheck is when to validate online again.
	VerdictID  string    `json:"verdict_id,omitempty"`
	ResultsURL string    `json:"results_url,omitempty"`
	NextCheck  time.Time `json:"next_check,omitzero"`
	// Ticket is the signed GENUINE verdict (a JSON envelope), valid until
	// TicketExpiresAt: proof of a genuine copy for download and update
	// services (TicketVerifier).
	Ticket          json.RawMessage `json:"ticket,omitempty"`
	TicketExpiresAt time.Time       `json:"ticket_expires_at,omitzero"`
	// ServerError says why an online validation fell back to this offline
	// status.
	ServerError string `json:"server_error,omitempty"`
	// StoreError says why an online verdict could not be recorded in the
	// license store: the verdict is still this status, but later offline
	// checks do not know it until the store can be written again.
	StoreError string `json:"store_error,omitempty"`
}

// Genuine reports whether the status is GENUINE.
func (s *Status) Genuine() bool { return s.Status == StatusGenuine }

// loadedLicense is a product's verified license kept in memory, so that
// repeated checks cost a signature check and no file reads.
type loadedLicense struct {
	files    files
	lic      license.License
	env      *signing.Envelope
	verifyOK error // outcome of verifying the license
	verdict  *Verdict
	profile  Profile
	modLic   fileStamp
	modState fileStamp
	loadedAt time.Time // the real clock: the hardware is read again after rereadHardware
	// grace is the publisher's grace period the server gave at this
	// copy's first check, to record with its first use.
	grace *int
}

// rereadHardware is how long a check trusts the hardware it read: a
// long-running application notices a new board within this time. (A
// variable for the tests.)
var rereadHardware = 10 * time.Second

func (c *Client) forget(product string) {
	c.mu.Lock()
	delete(c.loaded, product)
	c.mu.Unlock()
}

// fileStamp is what a check compares to notice that a file changed: its
// modification time, size and inode change time where the OS has one.
type fileStamp struct {
	mod  time.Time
	size int64
	sys  any
}

func (a fileStamp) same(b fileStamp) bool {
	return a.mod.Equal(b.mod) && a.size == b.size && a.sys == b.sys
}

// stampOf is the fileStamp of path, zero when it cannot be read.
func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size(), changeTime(fi)}
}

// load reads a product's files and this device's profile; it reads them
// again when the files change on disk, and at least every rereadHardware.
func (c *Client) load(ctx context.Context, product string) (*loadedLicense, error) {
	ls := c.local(product)
	ml, ms := stampOf(filepath.Join(ls.dir, licenseFile)), stampOf(filepath.Join(ls.dir, stateFile))
	c.mu.Lock()
	ll := c.loaded[product]
	c.mu.Unlock()
	if ll != nil && ll.modLic.same(ml) && ll.modState.same(ms) && time.Since(ll.loadedAt) < rereadHardware {
		return ll, nil
	}
	f, err := ls.readSettled()
	if err != nil {
		return nil, storeReadError(ls.dir, err)
	}
	ll = &loadedLicense{files: f, modLic: ml, modState: ms, loadedAt: time.Now()}
	if f.license != nil {
		v, err := c.trust(ctx)
		if err != nil {
			return nil, err
		}
		ll.lic, ll.env, ll.verifyOK = license.Verify(v, f.license)
		if ll.verifyOK == nil {
			// A license the server's key verifies pins that key (its
			// file was deleted); a failed pin is tried again next time.
			_ = c.pinFresh()
		}
		if f.st != nil && len(f.st.HardwareSalt) > 0 {
			if ll.profile, err = c.profile(ctx, f.st.HardwareSalt); err != nil {
				return nil, err
			}
		}
		if f.st != nil && len(f.st.Verdict) > 0 {
			if vd, err := verifyVerdict(v, f.st.Verdict); err == nil {
				ll.verdict = vd
			}
		}
	}
	c.mu.Lock()
	c.loaded[product] = ll
	c.mu.Unlock()
	return ll, nil
}

// Status checks offline whether this copy of Config.Product is genuine.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	return c.StatusProduct(ctx, c.cfg.Product)
}

// StatusProduct is Status for a given product.
func (c *Client) StatusProduct(ctx context.Context, product string) (*Status, error) {
	if err := checkProduct(product, "Status", "StatusProduct(ctx, product)"); err != nil {
		return nil, err
	}
	ll, err := c.load(ctx, product)
	if err != nil {
		return nil, err
	}
	if ll.files.st == nil && ll.files.license == nil && !ll.files.stateCorrupt && !c.graceSet && c.cfg.Server != "" && ll.grace == nil {
		g, err := c.productGrace(ctx, product)
		if err != nil {
			return nil, err
		}
		// On a copy: the loaded license is shared by concurrent checks.
		cp := *ll
		cp.grace = g
		ll = &cp
	}
	now := c.now().UTC()
	s := c.check(ll, product, now)
	if err := c.remember(product, ll, s, now); err != nil && ll.files.st == nil && s.Status == StatusGrace {
		// The grace period counts from the first use recorded here: a
		// store that cannot record it would restart the period at every
		// check.
		return nil, problem.Wrap(problem.StoreCorrupt, fmt.Sprintf("cannot record this copy's first use in the license store %s, which the grace period counts from: choose another license store directory or fix its permissions", c.local(product).dir), err)
	}
	if s.Status == StatusNotGenuine && s.NotGenuineSince.IsZero() {
		s.NotGenuineSince = now // the first check that found it (remember records it)
	}
	return s, nil
}

// productGrace asks the server, briefly, for the publisher's grace period
// of a product; nil when it cannot say (no answer, no SKU yet). A server
// this client already trusts (Config.RootKey, or the root key pinned in the
// store) that knows no such product is an error, PRODUCT_NOT_FOUND: a
// product id given wrong starts no grace period. From a server trusted on
// first use, with nothing pinned yet, nothing proves that answer the
// publisher's, so it is taken as no answer.
func (c *Client) productGrace(ctx context.Context, product string) (*int, error) {
	ctx, cancel := context.WithTimeout(ctx, graceLookupTimeout)
	defer cancel()
	info, err := c.productInfo(ctx, product, true)
	if problem.CodeOf(err) == problem.ProductNotFound && c.trustsPinned() {
		return nil, err
	}
	if err != nil {
		return nil, nil
	}
	return info.GraceDays, nil
}

// graceLookupTimeout bounds the requests a first check makes (the product,
// and with trust on first use the signing keys before it): an
// application's start is not held up by an unreachable server.
const graceLookupTimeout = 3 * time.Second

// graceDays is the grace period of a copy never activated: the
// application's, else the publisher's as recorded at first use, else 30.
func (c *Client) graceDays(ll *loadedLicense) int {
	switch {
	case c.graceSet:
	case ll.files.st != nil && ll.files.st.GraceDays != nil:
		return *ll.files.st.GraceDays
	case ll.grace != nil:
		return *ll.grace
	}
	return c.cfg.GraceDays
}

// remember records first use and the latest time seen (for grace and
// clock-rollback detection), writing at most once a minute. It writes under
// the store's lock, onto what the store holds then: if another check,
// activation or validation changed the store since this check read it,
// only the latest time seen moves on. Its error is the failed write's.
func (c *Client) remember(product string, ll *loadedLicense, s *Status, now time.Time) error {
	f := ll.files
	if f.stateCorrupt || s.Reason == problem.ClockTampered {
		return nil
	}
	if f.st == nil && f.license != nil {
		return nil // a license without its state reads as tampered; keep it so
	}
	if f.st != nil && now.Sub(f.st.LastSeen) < time.Minute && (s.Status != StatusNotGenuine || !f.st.NotGenuineSince.IsZero()) {
		return nil
	}
	ls := c.local(product)
	err := ls.locked(func(cur files) error {
		var st *state
		switch {
		case sameState(cur, f):
			if cur.st == nil {
				st = &state{Product: product, FirstSeen: now, LastSeen: now, GraceDays: ll.grace}
			} else {
				cp := *cur.st // never change a state a reader may hold
				st = &cp
			}
			if now.After(st.LastSeen) {
				st.LastSeen = now
			}
			if s.Status == StatusNotGenuine && st.NotGenuineSince.IsZero() {
				st.NotGenuineSince = now
			}
			if s.Status == StatusGenuine {
				st.NotGenuineSince = time.Time{}
			}
		case cur.st != nil && now.After(cur.st.LastSeen):
			cp := *cur.st
			cp.LastSeen = now
			st = &cp
		default:
			return nil
		}
		return ls.writeState(st)
	})
	if err != nil {
		return err
	}
	c.forget(product)
	return nil
}

func (c *Client) check(ll *loadedLicense, product string, now time.Time) *Status {
	f := ll.files
	s := &Status{Product: product, CheckedAt: now}
	bad := func(code problem.Code, detail string) *Status {
		s.Status, s.Reason, s.Detail = StatusNotGenuine, code, detail
		if f.st != nil {
			s.NotGenuineSince = f.st.NotGenuineSince
		}
		return s
	}
	tol := c.cfg.ClockTolerance
	// clockBack is the finding when the clock is behind the latest time
	// this device saw, or nil.
	clockBack := func() *Status {
		if f.st == nil || !now.Add(tol).Before(f.st.LastSeen) {
			return nil
		}
		return bad(problem.ClockTampered, fmt.Sprintf("the clock is %s behind the latest time this device saw", f.st.LastSeen.Sub(now).Round(time.Minute)))
	}
	switch {
	case f.stateCorrupt:
		return bad(problem.LicenseTampered, "the license state file is damaged")
	case f.license == nil && f.st != nil && f.st.LicenseSHA256 != "":
		return bad(problem.LicenseMissing, "the license file was deleted or moved")
	case f.license == nil && f.st != nil && !f.st.DeactivatedAt.IsZero():
		s.Status, s.Reason = StatusNotActivated, problem.NotActivated
		s.Detail = fmt.Sprintf("this device's activation was released on %s: activate again to use it here", f.st.DeactivatedAt.Format(time.DateOnly))
		return s
	case f.license == nil:
		// The grace period is judged at the latest time this device saw:
		// setting the clock back does not stretch it, and a clock that
		// ran ahead and was put right is not held against a copy that has
		// no license (nor verdict) to protect.
		at := now
		if f.st != nil && f.st.LastSeen.After(at) {
			at = f.st.LastSeen
		}
		first := now
		if f.st != nil && !f.st.FirstSeen.IsZero() {
			first = f.st.FirstSeen
		}
		s.GraceUntil = first.Add(time.Duration(c.graceDays(ll)) * 24 * time.Hour)
		if at.Before(s.GraceUntil) {
			s.Status, s.Reason = StatusGrace, problem.GracePeriod
			s.Detail = fmt.Sprintf("activate before %s", s.GraceUntil.Format(time.DateOnly))
		} else {
			s.Status, s.Reason, s.Detail = StatusNotActivated, problem.NotActivated, "the grace period is over: activate this copy"
		}
		return s
	case f.st == nil:
		return bad(problem.LicenseTampered, "the license state file was deleted")
	case !licenseMatches(f.license, f.st):
		return bad(problem.LicenseTampered, "the license file was changed")
	case ll.verifyOK != nil:
		return bad(problem.LicenseTampered, "the license signature does not verify: "+ll.verifyOK.Error())
	}
	l := ll.lic
	s.ProductName, s.Edition, s.SKU, s.Channel, s.PartialKey = l.ProductName, l.Edition, l.SKU, l.Channel, l.PartialKey
	s.ActivationID, s.Entitlements, s.NotAfter, s.RevalidateAfter = l.ActivationID, l.Entitlements, l.NotAfter, l.RevalidateAfter
	// Verify again on every check: the license in memory must still be
	// the one the publisher signed.
	if v := c.verifierNow(); v != nil {
		if _, err := v.Verify(ll.env, signing.TypeLicense); err != nil {
			return bad(problem.LicenseTampered, "the license signature does not verify")
		}
	}
	if l.Product != product {
		return bad(problem.ProductMismatch, fmt.Sprintf("the license is for %s, not %s", l.Product, product))
	}
	if back := clockBack(); back != nil {
		return back
	}
	if now.Add(tol).Before(l.IssuedAt) {
		return bad(problem.ClockTampered, "the clock is set before the license was issued")
	}
	if l.Expired(now) {
		return bad(problem.LicenseExpired, "the license expired on "+l.NotAfter.Format(time.DateOnly))
	}
	// Too little read to recognise the device is no hardware change: it is what
	// the server says of it too (and a status, so reminders go on).
	if errors.Is(ll.profile.Validate(), hardware.ErrNoIdentity) {
		return bad(problem.HardwareProfileInvalid, "too little of this device could be read to recognise it (a system UUID or a network card, or a disk, board serial or OS install id with more beside it): run with administrator rights, or check the hardware file")
	}
	if m := hardware.Match(l.Hardware, ll.profile, l.Tolerance); !m.Same {
		return bad(problem.HardwareChanged, "this device's hardware differs from the activated device: "+hardware.WhyText(m.Why))
	}
	if vd := ll.verdict; vd != nil && vd.ActivationID == l.ActivationID && vd.Status != StatusGenuine && vd.CheckedAt.After(l.IssuedAt) && !aboutOtherHardware(vd, ll.profile) {
		// The server's stored verdict decides, but this check asked no one:
		// Online stays false, VerdictID names the verdict.
		s.VerdictID, s.ResultsURL = vd.VerdictID, c.ownURL(vd.ResultsURL)
		r := vd.Remedy
		s.Remedy = &r
		st := bad(problem.Code(vd.Reason), vd.Remedy.Text)
		if vd.Status == StatusNotActivated {
			// The server no longer knows the activation (deactivated
			// elsewhere, say): the copy is not activated, as it said.
			st.Status = StatusNotActivated
		}
		return st
	}
	s.Status, s.Reason = StatusGenuine, problem.Genuine
	if vd := ll.verdict; vd != nil && vd.ActivationID == l.ActivationID && vd.CheckedAt.After(l.IssuedAt) {
		// The last genuine verdict says when to ask the server again.
		s.NextCheck = vd.NextCheck
		if vd.NextCheck.After(s.RevalidateAfter) {
			s.RevalidateAfter = vd.NextCheck
		}
	}
	return s
}

// ownURL returns a link of a verdict (its results page) on the server this
// client talks to, or "". The server builds the link from the address it
// was asked at (without --public-url, the request's Host header, which the
// request's signature does not cover), so a link to another host is not
// shown, however well the verdict is signed. A link to the same host is
// given the scheme and port of Config.Server: behind a proxy that ends TLS
// the server sees plain HTTP.
func (c *Client) ownURL(u string) string {
	if u == "" || c.cfg.Server == "" {
		return ""
	}
	got, err := url.Parse(u)
	if err != nil || (got.Scheme != "http" && got.Scheme != "https") {
		return ""
	}
	want, err := url.Parse(c.cfg.Server)
	if err != nil || !strings.EqualFold(got.Hostname(), want.Hostname()) {
		return ""
	}
	got.Scheme, got.Host = want.Scheme, want.Host
	return got.String()
}

// aboutOtherHardware reports whether a stored verdict judged hardware that
// is not this device's as it reads now: a HARDWARE_CHANGED said of another
// PC sharing the store (a roaming profile), or of a moment when a component
// read wrong, does not decide this device's offline status. Verdicts about
// the key or the activation (blocked, revoked, …) hold whatever the
// hardware.
func aboutOtherHardware(vd *Verdict, current Profile) bool {
	switch problem.Code(vd.Reason) {
	case problem.HardwareChanged, problem.HardwareProfileInvalid:
		return vd.Hardware != "" && vd.Hardware != api.HardwareDigest(current)
	}
	return false
}

func (c *Client) verifierNow() *signing.Verifier {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verifier
}

func listProducts(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, problem.Wrap(problem.StoreCorrupt, fmt.Sprintf("cannot read the license store %s: it must be a directory this user can read", dir), err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		f, err := localStore{dir: filepath.Join(dir, e.Name())}.read()
		// A state that only counts a grace period (the copy was checked,
		// never activated) does not make a product this device holds.
		if err != nil || f.license != nil || f.stateCorrupt || f.st != nil && (f.st.LicenseSHA256 != "" || f.st.ActivationID != "" || !f.st.DeactivatedAt.IsZero()) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}
