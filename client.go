package echt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/ident"
	"github.com/echt-dev/echt/internal/license"
	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/internal/signing"
	"github.com/echt-dev/echt/problem"
)

// maxResponse bounds what the SDK reads from a server.
const maxResponse = 4 << 20

// call sends a JSON request and returns the raw response body. Error
// responses become *problem.Error; on client endpoints their signature is
// checked, so a fake server cannot put words in the publisher's mouth.
func (c *Client) call(ctx context.Context, method, path, nonce string, in any, out any) error {
	return c.do(ctx, method, path, nonce, in, out, false)
}

// callSigned is call for an answer whose success must be signed too: one
// the client acts on without a signed document in it (deactivation).
func (c *Client) callSigned(ctx context.Context, method, path, nonce string, in any, out any) error {
	return c.do(ctx, method, path, nonce, in, out, true)
}

func (c *Client) do(ctx context.Context, method, path, nonce string, in any, out any, signedSuccess bool) error {
	if c.cfg.Server == "" {
		return problem.New(problem.ServerUnreachable, "no server configured (Config.Server, --server or ECHT_SERVER)")
	}
	var body io.Reader
	var sent []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, sent = bytes.NewReader(b), b
	}
	// A signed answer names the request it answers, as the server got it.
	request := api.RequestDigest(method, path, sent)
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.Server+path, body)
	if err != nil {
		return fmt.Errorf("server URL %q: %w", c.cfg.Server, err)
	}
	req.Header.Set("Accept", "application/json")
	// Every answer is for this device and this request: a cache in
	// between (which may hold an unsigned public copy) must not answer.
	req.Header.Set("Cache-Control", "no-cache")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if nonce != "" {
		req.Header.Set(api.NonceHeader, nonce)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return problem.Wrap(problem.ServerUnreachable, fmt.Sprintf("cannot reach the activation server at %s", c.cfg.Server), transportCause(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return problem.Wrap(problem.ServerUnreachable, "the server's answer was cut off", err)
	}
	if resp.StatusCode >= 400 {
		pe := problem.DecodeBytes(resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), raw)
		if pe.Code == problem.NotFound || pe.Code == problem.MethodNotAllowed {
			// No such endpoint (an echt server's or anyone else's): the
			// address is not an echt server's API, whatever the call.
			return problem.New(problem.ServerUntrusted, fmt.Sprintf("%s does not answer as an echt server (%d for %s): check the server address (--server, the URL echt serve listens on, without a path), and that the server's echt is not older than this client", c.cfg.Server, resp.StatusCode, path))
		}
		if path == signingKeysPath && !transient(resp.StatusCode) {
			// Nothing can be verified before the keys are known: an error
			// here says only that this server does not give them.
			return problem.New(problem.ServerUntrusted, fmt.Sprintf("the server at %s did not give its signing keys (it answered %d %s): check the server address (--server)", c.cfg.Server, resp.StatusCode, pe.Code))
		}
		if !transient(resp.StatusCode) {
			// Every error of a client endpoint is signed, with or without a
			// nonce, so that no one in between can tell a user that a key
			// is blocked or a product unknown.
			if err := c.verifyResponse(resp, nonce, request, raw); err != nil {
				return problem.Wrap(problem.ServerUntrusted, fmt.Sprintf("the server answered %s without the publisher's signature", pe.Code), err)
			}
		}
		if transient(resp.StatusCode) && (nonce == "" || c.verifyResponse(resp, nonce, request, raw) != nil) {
			// Proxies send these statuses too, unsigned: such an answer
			// may say "try again later" and nothing else, so that no one
			// between here and the publisher can make up a verdict.
			return unsignedTransient(resp.StatusCode, pe)
		}
		return pe
	}
	if signedSuccess {
		if err := c.verifyResponse(resp, nonce, request, raw); err != nil {
			if resp.Header.Get(api.SignatureHeader) == "" && path != deactivatePath {
				// Servers before 2026-11-27 left these answers unsigned.
				return problem.Wrap(problem.ServerUntrusted, fmt.Sprintf("the server's answer to %s %s is not signed: the server's echt may be older than this client (upgrade the server), or it is not the publisher's server", method, path), err)
			}
			return problem.Wrap(problem.ServerUntrusted, "the server's answer is not signed by the publisher", err)
		}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return problem.Wrap(problem.ServerUntrusted, "the server's answer is not what an echt server sends", err)
		}
	}
	return nil
}

// unsignedTransient keeps of an unsigned transient answer only what a
// proxy may say: wait, and for how long.
func unsignedTransient(status int, pe *problem.Error) *problem.Error {
	code, detail := problem.Unavailable, fmt.Sprintf("the server (or a proxy in between) answered %d", status)
	switch {
	case status == http.StatusTooManyRequests:
		code, detail = problem.RateLimited, "the server (or a proxy in between) asks to slow down"
	case pe.Code == problem.StoreUnavailable:
		code = problem.StoreUnavailable
	}
	out := problem.New(code, detail)
	out.RetryAfter = pe.RetryAfter
	return out
}

// transient statuses carry no verdict, and proxies send them too.
func transient(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func (c *Client) verifyResponse(resp *http.Response, nonce, request string, body []byte) error {
	v, err := c.trust(resp.Request.Context())
	if err != nil {
		return err
	}
	kid, sig, ok := parseSignatureHeader(resp.Header.Get(api.SignatureHeader))
	if !ok {
		return errors.New("no signature")
	}
	certJSON, err := base64.StdEncoding.DecodeString(resp.Header.Get(api.CertificateHeader))
	if err != nil {
		return errors.New("no signing certificate")
	}
	var cert signing.Envelope
	if err := json.Unmarshal(certJSON, &cert); err != nil {
		return errors.New("malformed signing certificate")
	}
	return v.VerifyRaw(&cert, kid, signing.TypeResponse, api.ResponseMessage(nonce, request, resp.StatusCode, body), sig)
}

func parseSignatureHeader(h string) (kid string, sig []byte, ok bool) {
	for _, part := range strings.Split(h, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			continue
		}
		switch k {
		case "kid":
			kid = v
		case "sig":
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return "", nil, false
			}
			sig = b
		}
	}
	return kid, sig, kid != "" && len(sig) == ed25519.SignatureSize
}

// trust returns the verifier of the publisher's root key. With
// TrustOnFirstUse and no configured key, the key pinned in the store (or,
// before anything was activated, the server's: see trustPinning) is used.
func (c *Client) trust(ctx context.Context) (*signing.Verifier, error) {
	v, _, err := c.trustPinning(ctx, false)
	return v, err
}

// trustPinning is trust, and reports whether the root key came from this
// client's server and is not pinned yet. Such a key is used, but written
// to the store only once a license it signed is (pinFresh): contacting a
// server, or a failed activation there, pins nothing, so a wrong --server
// tried first does not lock the device out of the right one.
//
// With repin (an activation), a damaged pinned key file counts as none: the
// key is taken from the server and pinned again once its license verifies,
// as on a new device. That trusts nothing a person able to write the store
// could not get by deleting the file, and it is what the remedy of the
// LICENSE_TAMPERED the damaged file gives elsewhere says: activate again.
func (c *Client) trustPinning(ctx context.Context, repin bool) (*signing.Verifier, bool, error) {
	c.mu.Lock()
	v, fresh := c.verifier, c.unpinned != nil
	c.mu.Unlock()
	if v != nil {
		return v, fresh, nil
	}
	root, err := readPinnedRoot(c.store)
	overDamaged := err != nil && repin && problem.CodeOf(err) == problem.LicenseTampered
	if overDamaged {
		root, err = nil, nil
	}
	if err != nil {
		return nil, false, err
	}
	if root == nil {
		if root, err = c.serverRoot(ctx); err != nil {
			return nil, false, err
		}
		fresh = true
	}
	v = signing.NewVerifier(root)
	c.mu.Lock()
	c.verifier = v
	if fresh {
		c.unpinned = root
	}
	c.overDamaged = overDamaged
	c.mu.Unlock()
	return v, fresh, nil
}

// trustsPinned reports whether the root key this client verifies with is
// its configured one or the one pinned in the store, not one just taken
// from the server (trust on first use, nothing pinned yet).
func (c *Client) trustsPinned() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verifier != nil && c.unpinned == nil
}

// forgetOverDamaged drops a root key taken from the server over a damaged
// pinned key file when the activation it was for failed: later checks read
// the file again and find it damaged, as before.
func (c *Client) forgetOverDamaged() {
	c.mu.Lock()
	if c.overDamaged {
		c.verifier, c.unpinned, c.overDamaged = nil, nil, false
	}
	c.mu.Unlock()
}

// pinFresh pins the root key trustPinning took from the server, once a
// license it signed has verified.
func (c *Client) pinFresh() error {
	c.mu.Lock()
	root := c.unpinned
	c.mu.Unlock()
	if root == nil {
		return nil
	}
	if err := pinRoot(c.store, root); err != nil {
		return problem.Wrap(problem.StoreCorrupt, "cannot record the publisher's root key in "+filepath.Join(c.store, trustFile), err)
	}
	c.mu.Lock()
	c.unpinned, c.overDamaged = nil, false
	c.mu.Unlock()
	return nil
}

// serverRoot asks the server for its publisher's root public key. The
// answer is not proof of anything (a fake server can send any key); it
// pins a key on first use, and tells a client before it activates that the
// server is not the publisher it trusts.
func (c *Client) serverRoot(ctx context.Context) (ed25519.PublicKey, error) {
	var keys struct {
		Root struct {
			PublicKey string `json:"public_key"`
		} `json:"root"`
	}
	if err := c.call(ctx, "GET", signingKeysPath, "", nil, &keys); err != nil {
		return nil, err
	}
	root, err := signing.DecodePublicKey(keys.Root.PublicKey)
	if err != nil {
		return nil, problem.Wrap(problem.ServerUntrusted, "the server's root key is malformed", err)
	}
	return root, nil
}

// checkServerRoot refuses, before a seat is spent, a server whose root key
// is not the one this client trusts: its license could not be verified.
func (c *Client) checkServerRoot(ctx context.Context, v *signing.Verifier) error {
	root, err := c.serverRoot(ctx)
	if err != nil {
		return err
	}
	kid := signing.KeyID(root)
	if slices.Contains(v.Roots(), kid) {
		return nil
	}
	err = problem.Newf(problem.ServerUntrusted, "the server at %s signs for another publisher (root key %s) than the one this device trusts (%s), so nothing was activated", c.cfg.Server, kid, strings.Join(v.Roots(), ", "))
	if c.cfg.RootKey != nil {
		return withHint(err, "check the server address and the publisher's root key this copy is set up with")
	}
	path := filepath.Join(c.store, trustFile)
	return withHint(err, "check the server address. This device pinned the root key of the first server it activated with in "+path+
		"; if the publisher really changed its root key, or this is a test installation, use another license store or delete that file")
}

const trustFile = "trusted-root.json"

// deactivatePath is the deactivation endpoint, whose answer was always
// signed.
const deactivatePath = "/v1/activations/deactivate"

// signingKeysPath is where a server publishes its keys.
const signingKeysPath = "/v1/signing-keys"

func readPinnedRoot(dir string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(dir + string(os.PathSeparator) + trustFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, problem.Wrap(problem.StoreCorrupt, "cannot read the pinned root key in "+dir+": the license store must be a directory this user can read; fix its permissions or choose another license store directory", err)
	}
	var t struct {
		Root string `json:"root_key"`
		KID  string `json:"kid"`
	}
	var k ed25519.PublicKey
	err = json.Unmarshal(b, &t)
	if err == nil {
		k, err = signing.DecodePublicKey(t.Root)
	}
	// The file names the key's id beside it: a key changed by a byte
	// (still valid base64) no longer matches it.
	if err == nil && t.KID != "" && t.KID != signing.KeyID(k) {
		err = errors.New("the key does not match its id")
	}
	if err != nil {
		path := filepath.Join(dir, trustFile)
		return nil, withHint(problem.Wrap(problem.LicenseTampered, "the pinned root key file "+path+" is damaged", err),
			"activate again: the publisher's root key is then pinned anew from the server")
	}
	return k, nil
}

func pinRoot(dir string, root ed25519.PublicKey) error {
	b, _ := json.MarshalIndent(map[string]string{"root_key": signing.EncodePublicKey(root), "kid": signing.KeyID(root)}, "", "  ")
	return writeAtomic(dir+string(os.PathSeparator)+trustFile, append(b, '\n'))
}

// RootKeyID returns the id of the root key the client trusts: the
// configured or pinned one, or with TrustOnFirstUse before anything was
// activated the server's (fetched, not pinned).
func (c *Client) RootKeyID(ctx context.Context) (string, error) {
	v, err := c.trust(ctx)
	if err != nil {
		return "", err
	}
	ids := v.Roots()
	if len(ids) == 0 {
		return "", errors.New("no root key")
	}
	return ids[0], nil
}

// productSalt returns a product's hardware salt: from the store when it
// was remembered from this client's server, else from the server, signed
// by the publisher when signed is set (for an activation; HardwareSalt,
// which only shows a profile, takes an unsigned answer too, so that echt
// hwid works on a device whose pinned key file is damaged).
func (c *Client) productSalt(ctx context.Context, product string, signed bool) ([]byte, error) {
	ls := c.local(product)
	f, err := ls.read()
	if err == nil && f.st != nil && len(f.st.HardwareSalt) > 0 && (f.st.Server == "" || f.st.Server == c.cfg.Server) {
		return f.st.HardwareSalt, nil
	}
	info, err := c.productInfo(ctx, product, signed)
	if err != nil {
		return nil, err
	}
	return info.HardwareSalt, nil
}

// productInfo asks the server for a product's public part (its hardware
// salt, its grace period).
func (c *Client) productInfo(ctx context.Context, product string, signed bool) (api.ProductInfo, error) {
	var info api.ProductInfo
	// A nonce makes an error answer (PRODUCT_NOT_FOUND) fresh as well as
	// signed.
	if err := c.do(ctx, "GET", "/v1/products/"+url.PathEscape(product), newNonce(), nil, &info, signed); err != nil {
		return api.ProductInfo{}, err
	}
	if info.ID != product || len(info.HardwareSalt) == 0 || (info.GraceDays != nil && *info.GraceDays < 0) {
		return api.ProductInfo{}, problem.New(problem.ServerUntrusted, "the server's product information is malformed")
	}
	return info, nil
}

// hinted is an error the SDK itself made, with what to do about it.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

func withHint(err error, hint string) error { return &hinted{err, hint} }

// Hint returns what to do about an error the SDK found on this device (for
// example which damaged file to delete), or "". It never comes from a
// server, so an application may show it as it is.
func Hint(err error) string {
	var h *hinted
	if errors.As(err, &h) {
		return h.hint
	}
	return ""
}

// productOfKey asks the server which product a key is for, and that
// product's hardware salt.
func (c *Client) productOfKey(ctx context.Context, key string) (product string, salt []byte, err error) {
	var info api.ProductInfo
	if err := c.callSigned(ctx, "POST", "/v1/keys/product", newNonce(), api.KeyCheckRequest{Key: key}, &info); err != nil {
		return "", nil, err
	}
	if !ident.WellFormed(info.ID) || len(info.HardwareSalt) == 0 {
		return "", nil, problem.New(problem.ServerUntrusted, "the server's product information is malformed")
	}
	return info.ID, info.HardwareSalt, nil
}

func typo() error {
	return problem.New(problem.KeyTypo, "the product key fails its checksum, so it has a typing error: check each character against your certificate of authenticity or receipt")
}

// Activate activates this device with a product key. The same key on the
// same device gives the existing activation again (ALREADY_ACTIVATED)
// without spending a seat.
func (c *Client) Activate(ctx context.Context, key string) (*Activation, error) {
	return c.activate(ctx, blankKey(key), c.cfg.Product)
}

// ActivateProduct is Activate for a product other than Config.Product.
// An empty key, or one of nothing but spaces and separators (- _ . /),
// uses the device's digital license of the product.
func (c *Client) ActivateProduct(ctx context.Context, key, product string) (*Activation, error) {
	key = blankKey(key)
	if product != "" || key == "" {
		if err := checkProduct(product, "ActivateProduct", ""); err != nil {
			return nil, err
		}
	}
	return c.activate(ctx, key, product)
}

// blankKey returns "" for a key that is nothing but spaces and the
// separators a key may be typed with (- _ . /: what a user leaves in an
// empty key field), so that it means no key, as an empty one does; any
// other key is returned as it is.
func blankKey(key string) string {
	if productkey.Normalize(key) == "" {
		return ""
	}
	return key
}

// ActivateDigital re-activates this device with the digital license it
// holds for the product (after a reinstall), without a key.
func (c *Client) ActivateDigital(ctx context.Context) (*Activation, error) {
	if err := checkProduct(c.cfg.Product, "ActivateDigital", "ActivateProduct(ctx, \"\", product)"); err != nil {
		return nil, err
	}
	return c.activate(ctx, "", c.cfg.Product)
}

func (c *Client) activate(ctx context.Context, key, product string) (*Activation, error) {
	a, err := c.activateOnline(ctx, key, product)
	if err != nil {
		c.forgetOverDamaged()
	}
	if err != nil && key != "" && problem.CodeOf(err) == problem.ServerUnreachable && !productkey.Valid(key) {
		// The server tells a typo (one character off a real key) from a
		// key that is not the publisher's; without it, the checksum has
		// already failed on this device.
		if !productkey.OneTypoAway(key) {
			return nil, problem.New(problem.KeyInvalid, "this is not a product key: a product key has 25 characters from "+productkey.Alphabet+", in five groups of five")
		}
		return nil, typo()
	}
	return a, err
}

func (c *Client) activateOnline(ctx context.Context, key, product string) (*Activation, error) {
	v, fresh, err := c.trustPinning(ctx, true)
	if err != nil {
		return nil, err
	}
	if !fresh { // a root not pinned yet came from this server
		if err := c.checkServerRoot(ctx, v); err != nil {
			return nil, err
		}
	}
	var salt []byte
	if key != "" && product == "" {
		p, s, err := c.productOfKey(ctx, key)
		if err != nil {
			return nil, err
		}
		product, salt = p, s
	}
	if product == "" {
		return nil, problem.New(problem.InvalidRequest, "give a product key, or the product (--product) whose digital license to use")
	}
	if salt == nil {
		s, err := c.productSalt(ctx, product, true)
		if err != nil {
			return nil, err
		}
		salt = s
	}
	prof, err := c.profile(ctx, salt)
	if err != nil {
		return nil, err
	}
	if err := prof.Validate(); err != nil {
		return nil, problem.Newf(problem.HardwareProfileInvalid, "this device's hardware cannot be identified: %v", err)
	}
	// The store is read, and checked writable, before a seat is spent.
	ls := c.local(product)
	if err := ls.writable(); err != nil {
		return nil, problem.Wrap(problem.StoreCorrupt, fmt.Sprintf("cannot write the license store %s, so nothing was activated: choose another store directory (--store) or fix its permissions", ls.dir), err)
	}
	f, err := ls.read()
	if err != nil {
		return nil, storeReadError(ls.dir, err)
	}
	req := api.ActivateRequest{Key: key, Product: product, Hardware: prof, Nonce: newNonce()}
	if key != "" && f.license != nil && f.st != nil && licenseMatches(f.license, f.st) {
		// A new key on a device that holds a license of the product takes
		// that license's place (an upgrade), rather than looking like a
		// repair made with someone else's key.
		req.Replaces = f.license
	}
	nonce := req.Nonce
	var resp api.ActivateResponse
	if err := c.call(ctx, "POST", "/v1/activations", nonce, req, &resp); err != nil {
		return nil, err
	}
	l, _, err := license.Verify(v, resp.License)
	if err != nil {
		return nil, problem.Wrap(problem.ServerUntrusted, "the license the server sent is not signed by the publisher", err)
	}
	switch {
	case l.Nonce != nonce:
		return nil, problem.New(problem.ServerUntrusted, "the license the server sent was not made for this request (replayed)")
	case l.Product != product:
		return nil, problem.New(problem.ServerUntrusted, "the license the server sent is for another product")
	case !hardware.Match(l.Hardware, prof, l.Tolerance).Same:
		return nil, problem.New(problem.ServerUntrusted, "the license the server sent is for another device")
	case key != "" && !licenseOfKey(l, key):
		return nil, problem.New(problem.ServerUntrusted, "the license the server sent is for another key than the one entered (the request was altered on its way)")
	}
	if err := c.pinFresh(); err != nil {
		return nil, withHint(err, "the server activated this device, but the store "+c.store+" cannot be written: fix it and activate again with the same key, which gives back the same activation without using another seat")
	}
	now := c.now().UTC()
	// Under the store's lock, onto the state it holds now (first use,
	// trust): no concurrent check writes an older state over this one.
	err = ls.locked(func(cur files) error {
		st := &state{Product: product, FirstSeen: now}
		if cur.st != nil {
			cp := *cur.st
			st = &cp
		}
		st.Server, st.HardwareSalt, st.ActivationID = c.cfg.Server, salt, l.ActivationID
		st.Verdict, st.NotGenuineSince, st.DeactivatedAt = nil, time.Time{}, time.Time{}
		if st.LastSeen.Before(now) || vouched(now, l.IssuedAt, c.cfg.ClockTolerance) {
			st.LastSeen = now
		}
		return ls.save(resp.License, st)
	})
	if err != nil {
		return nil, problem.Wrap(problem.StoreCorrupt, "the server activated this device, but its license could not be saved in "+ls.dir+": fix the store and activate again with the same key, which gives back the same activation without using another seat", err)
	}
	c.forget(product)
	return &Activation{
		ActivationID: l.ActivationID, Reason: problem.Code(resp.Reason), Product: l.Product, Edition: l.Edition, SKU: l.SKU,
		Channel: l.Channel, PartialKey: l.PartialKey, NotAfter: l.NotAfter, License: l,
	}, nil
}

// licenseOfKey reports whether a license was made with key, as far as its
// partial key shows (the last group). A key that does not parse here was
// never activated, so it is not what tells a license apart.
func licenseOfKey(l license.License, key string) bool {
	k, err := productkey.Parse(key)
	if err != nil {
		return true // only the server knows which key it was
	}
	return l.PartialKey == productkey.Partial(k.LastGroup())
}

// Deactivate releases this device's activation of Config.Product, so the
// key can be used on another device (where the channel allows it), and
// removes the local license.
func (c *Client) Deactivate(ctx context.Context) error {
	return c.DeactivateProduct(ctx, c.cfg.Product)
}

// DeactivateProduct is Deactivate for a given product.
func (c *Client) DeactivateProduct(ctx context.Context, product string) error {
	if err := checkProduct(product, "Deactivate", "DeactivateProduct(ctx, product)"); err != nil {
		return err
	}
	ls := c.local(product)
	f, err := ls.read()
	if err != nil {
		return storeReadError(ls.dir, err)
	}
	restore := fmt.Sprintf("restore this device's license first: activate %s again without a key (its digital license, which spends no seat), then deactivate", product)
	switch {
	case f.stateCorrupt || (f.license != nil && f.st == nil):
		return withHint(problem.New(problem.LicenseTampered, "this device's license state file is missing or damaged, so its license cannot be deactivated"), restore)
	case f.license == nil && f.st != nil && f.st.LicenseSHA256 != "":
		return withHint(problem.New(problem.LicenseMissing, "this device's license file was deleted or moved, so it cannot be deactivated"), restore)
	case f.license == nil || f.st == nil:
		return problem.New(problem.NotActivated, "this device has no license to deactivate")
	}
	prof, err := c.profile(ctx, f.st.HardwareSalt)
	if err != nil {
		return err
	}
	// The license must be removable before the seat is released: a
	// device left holding a verifying license of a released seat would
	// stay genuine offline while the key moves on.
	if err := ls.writable(); err != nil {
		return problem.Wrap(problem.StoreCorrupt, "the license store "+ls.dir+" cannot be written, so its license could not be removed: make it writable, then deactivate again (nothing was released)", err)
	}
	nonce := newNonce()
	var resp api.DeactivateResponse
	err = c.callSigned(ctx, "POST", deactivatePath, nonce, api.DeactivateRequest{License: f.license, Hardware: prof, Nonce: nonce}, &resp)
	if err != nil && problem.CodeOf(err) != problem.ActivationNotFound {
		return err
	}
	if err == nil && resp.Nonce != nonce {
		return problem.New(problem.ServerUntrusted, "the server's answer was not made for this request")
	}
	err = ls.locked(func(cur files) error {
		if !bytes.Equal(cur.license, f.license) {
			return nil // replaced meanwhile by another activation: keep that one
		}
		st := *f.st
		if cur.st != nil {
			st = *cur.st
		}
		st.DeactivatedAt = c.now().UTC()
		return ls.removeLicense(&st)
	})
	if err != nil {
		return problem.Wrap(problem.StoreCorrupt, "the server released this activation, but its license could not be removed from "+ls.dir+": delete "+filepath.Join(ls.dir, licenseFile)+" by hand", err)
	}
	c.forget(product)
	return nil
}

// ActivationOf returns the id of the activation whose license this
// device's store holds for product, or "" when it holds none.
func (c *Client) ActivationOf(product string) string {
	f, err := c.local(product).read()
	if err != nil || f.st == nil || f.license == nil {
		return ""
	}
	return f.st.ActivationID
}

// Server returns the server URL the client talks to.
func (c *Client) Server() string { return c.cfg.Server }

// HardwareSalt returns a product's public hardware salt, to show a
// device's profile (echt hwid). Unlike an activation it accepts an answer
// the publisher did not sign, so it works while the pinned key file is
// damaged; an activation asks for the salt again, signed.
func (c *Client) HardwareSalt(ctx context.Context, product string) ([]byte, error) {
	if err := checkProduct(product, "HardwareSalt", ""); err != nil {
		return nil, err
	}
	return c.productSalt(ctx, product, false)
}

// transportCause is what went wrong on the way to the server, without the
// request line net/http puts around it (`Post "https://…": dial tcp
// 10.0.0.1:443: connect: connection refused` becomes `connection refused`):
// the message names the server already.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	// A proxy's failure keeps its "proxyconnect" words: it was not the
	// server that refused.
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil && op.Op != "proxyconnect" {
		err = op.Err
		var se *os.SyscallError
		if errors.As(err, &se) {
			err = se.Err
		}
	}
	return err
}
