// Package echt is the Go SDK of echt for publishers' applications: it
// activates a copy on this device, keeps the signed license on disk, and
// tells — offline, in microseconds — whether the copy is genuine, and if
// not, why and how to fix it.
//
// Trust model: the SDK trusts only the publisher's root public key, which
// the application embeds (Config.RootKey). Licenses and server answers are
// verified against it; a fake server, a changed license file or a license
// of another device is detected. No client-side check survives a patched
// binary: the SDK raises the cost of copying, it cannot make it impossible.
//
// The SDK has no package-level state and never imports server code.
package echt

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/ident"
	"github.com/echt-dev/echt/internal/license"
	"github.com/echt-dev/echt/internal/signing"
	"github.com/echt-dev/echt/problem"
)

// Hardware is a device's raw component values. CollectHardware reads them
// from the machine; tests and support tools may fill one in by hand. Raw
// values are hashed with the product's salt before they leave the device.
// Its fields, every one optional, are those of a hardware file:
//
//	SystemUUID  string   // "system_uuid"
//	BoardSerial string   // "board_serial"
//	Disks       []string // "disks": serial numbers
//	MACs        []string // "macs": permanent MACs of physical network cards
//	CPU         string   // "cpu"
//	MemoryGB    float64  // "memory_gb"
//	OSInstallID string   // "os_install_id"
type Hardware = hardware.Raw

// Profile is a hashed hardware profile, as the server sees it.
type Profile = hardware.Profile

// License is a signed license's content, as the server issued it and the
// SDK verified it: ids, product, edition, SKU, channel, entitlements,
// partial key, the hardware it is bound to and its tolerance, and its times
// (docs/licenses.md has every field).
type License = license.License

// CollectHardware reads this machine's hardware components. Missing
// components are normal (VMs, containers, no administrator rights).
func CollectHardware(ctx context.Context) (Hardware, error) { return hardware.Collect(ctx) }

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// Server is the base URL of the publisher's echt server. Needed for
	// activation and online validation, not for offline checks.
	Server string
	// Product is the product id. May be empty for Activate with a key (the
	// server tells which product the key is for).
	Product string
	// RootKey is the publisher's root public key (echt admin keyring show).
	// Required unless TrustOnFirstUse.
	RootKey ed25519.PublicKey
	// TrustOnFirstUse fetches the root key from Server on first contact
	// and pins it in the license store once a license it signed is saved
	// (a failed activation pins nothing). For the echt agent; applications
	// should embed RootKey.
	TrustOnFirstUse bool
	// StoreDir is the license store directory; empty means
	// DefaultStoreDir(UserScope).
	StoreDir string
	// Hardware returns the device's components; nil means CollectHardware.
	Hardware func(ctx context.Context) (Hardware, error)
	// HTTPClient is used for requests; nil means a client with a 30s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ClockTolerance is how far the clock may go back before CLOCK_TAMPERED;
	// 0 means one hour.
	ClockTolerance time.Duration
	// Lang is the preferred language of verdict texts (for example "nl");
	// empty means English.
	Lang string
	// GraceDays is the grace period of a copy that was never activated,
	// counted from its first run. 0 means the publisher's: the first check
	// of a copy asks Server once for the product's grace period (the
	// longest of its SKUs' grace days) and keeps the answer in the store;
	// without an answer, 30 days. A negative value counts as 0.
	GraceDays int
}

const defaultGraceDays = 30

// checkProduct refuses a missing or malformed product id before it names
// a directory in the store or a path on the server. method is the call,
// other the one to use without Config.Product ("" when the call takes the
// product already).
func checkProduct(product, method, other string) error {
	if product == "" {
		msg := "echt: " + method + " needs a product: "
		if other != "" {
			msg += "set Config.Product, or call " + other
		} else {
			msg += "pass the product id"
		}
		return problem.New(problem.InvalidRequest, msg+" (--product in the echt agent)")
	}
	if !ident.WellFormed(product) {
		return problem.Newf(problem.InvalidRequest, "echt: %q is not a product id (lower-case letters, digits, '.', '_' and '-', starting with a letter or digit; --product in the echt agent)", product)
	}
	return nil
}

// Client activates and checks one device. It is safe for concurrent use.
type Client struct {
	cfg   Config
	store string
	http  *http.Client
	now   func() time.Time

	mu       sync.Mutex
	verifier *signing.Verifier
	unpinned ed25519.PublicKey // the server's root key in verifier, not pinned yet (trustPinning)
	// overDamaged: verifier and unpinned were taken from the server over a
	// damaged pinned key file, for one activation; forgotten if it fails.
	overDamaged bool
	loaded      map[string]*loadedLicense // by product: verified license cache
	graceSet    bool                      // Config.GraceDays was given
}

// NewClient returns a client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.RootKey == nil && !cfg.TrustOnFirstUse {
		return nil, errors.New("echt: Config.RootKey is required (the publisher's root public key, from 'echt admin keyring show')")
	}
	if cfg.RootKey != nil && len(cfg.RootKey) != ed25519.PublicKeySize {
		return nil, errors.New("echt: Config.RootKey is not an Ed25519 public key")
	}
	if cfg.Product != "" && !ident.WellFormed(cfg.Product) {
		return nil, fmt.Errorf("echt: product id %q is not valid", cfg.Product)
	}
	if cfg.Server != "" {
		if u, err := url.Parse(cfg.Server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("echt: Config.Server %q is not a server address: give its base URL, for example https://activation.example.com", cfg.Server)
		}
	}
	dir := cfg.StoreDir
	if dir == "" {
		var err error
		if dir, err = DefaultStoreDir(UserScope); err != nil {
			return nil, err
		}
	}
	if cfg.Hardware == nil {
		cfg.Hardware = CollectHardware
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClockTolerance <= 0 {
		cfg.ClockTolerance = time.Hour
	}
	graceSet := cfg.GraceDays > 0
	if !graceSet {
		cfg.GraceDays = defaultGraceDays
	}
	cfg.Server = strings.TrimRight(cfg.Server, "/")
	c := &Client{cfg: cfg, store: dir, http: cfg.HTTPClient, now: cfg.Now, loaded: map[string]*loadedLicense{}, graceSet: graceSet}
	if cfg.RootKey != nil {
		c.verifier = signing.NewVerifier(cfg.RootKey)
	}
	return c, nil
}

func (c *Client) local(product string) localStore {
	return localStore{dir: filepath.Join(c.store, product)}
}

// Products lists the products this device's store holds a license of, or
// held one (deactivated, deleted or damaged since); a product only checked
// during its grace period is not listed.
func (c *Client) Products() ([]string, error) { return listProducts(c.store) }

func newNonce() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Activation is the outcome of a successful activation.
type Activation struct {
	ActivationID string
	// Reason is ACTIVATED, ALREADY_ACTIVATED or DIGITAL_LICENSE.
	Reason     problem.Code
	Product    string
	Edition    string
	SKU        string
	Channel    string
	PartialKey string
	NotAfter   time.Time
	License    License
}

// profile collects and hashes this device's hardware for a product.
func (c *Client) profile(ctx context.Context, salt []byte) (Profile, error) {
	raw, err := c.cfg.Hardware(ctx)
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return Profile{}, fmt.Errorf("read hardware: %w", err)
	}
	return raw.Hash(salt), nil
}
