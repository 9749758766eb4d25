// Package catalog owns products, editions and SKUs, and the licensing
// policy of each SKU: its channel and the defaults and limits that follow
// from it.
package catalog

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/echt-dev/echt/internal/ident"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/text"
	"github.com/echt-dev/echt/problem"
)

// Channel is how a SKU is sold and what its activations may do.
type Channel string

// The channels.
const (
	Retail       Channel = "retail"       // 1 licence = 1 PC, transferable after deactivation
	OEM          Channel = "oem"          // bound forever to the first device
	VolumeMAK    Channel = "volume-mak"   // N one-time activations
	VolumeHost   Channel = "volume-host"  // on-premises activation hosts of an organisation
	Subscription Channel = "subscription" // expires; transferable
	Trial        Channel = "trial"        // short, one device, not transferable
)

// Channels lists every channel.
var Channels = []Channel{Retail, OEM, VolumeMAK, VolumeHost, Subscription, Trial}

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool {
	for _, k := range Channels {
		if c == k {
			return true
		}
	}
	return false
}

// Transferable reports whether deactivating frees the seat for another
// device (retail yes, OEM never).
func (c Channel) Transferable() bool {
	switch c {
	case Retail, Subscription, VolumeHost:
		return true
	}
	return false
}

// Supersedes reports whether an activation of SKU later (ending or not,
// laterEnds), made on a device that still holds an activation of the same
// product with another key, of SKU earlier (earlierEnds), is a purchase that
// takes the earlier one's place rather than the repair case ("activated
// with another key after a repair", where entering the original key is
// the fix): after a trial; with a volume licence (organisations reimage
// their PCs onto theirs); of another edition (an upgrade, or a downgrade
// bought on purpose); or a licence without an end after one with an end
// (a perpetual licence after a subscription). A repair is what is left:
// another key of the same edition, not a volume licence, that does not
// outlast the original.
func Supersedes(later store.SKU, laterEnds bool, earlier store.SKU, earlierEnds bool) bool {
	switch {
	case Channel(earlier.Channel) == Trial,
		Channel(later.Channel) == VolumeMAK, Channel(later.Channel) == VolumeHost,
		!strings.EqualFold(later.Edition, earlier.Edition),
		earlierEnds && !laterEnds:
		return true
	}
	return false
}

// Default policy values.
const (
	DefaultTolerance       = 4
	DefaultGraceDays       = 30
	DefaultRevalidateHours = 24
	DefaultReminderMinutes = 60
	DefaultEscalateDays    = 14
	MaxMaxDevices          = 1_000_000
)

// ZeroOnPurpose names the policy fields given as 0 on purpose, whose zero
// is a setting and not "the default": tolerance 0 (any change of a
// component makes another device) and grace days 0 (no grace period).
type ZeroOnPurpose struct {
	GraceDays, Tolerance bool
}

// Defaults fills the zero fields of p for channel c, except those zero on
// purpose, and validates the result. Negative numbers are refused.
func Defaults(c Channel, p store.Policy, zero ZeroOnPurpose) (store.Policy, error) {
	if !c.Valid() {
		return p, problem.Newf(problem.InvalidPolicy, "unknown channel %q: use one of retail, oem, volume-mak, volume-host, subscription, trial", c)
	}
	for name, v := range map[string]int{"max devices": p.MaxDevices, "valid days": p.ValidDays, "grace days": p.GraceDays, "tolerance": p.Tolerance, "revalidate hours": p.RevalidateHours, "reminder minutes": p.ReminderMinutes, "escalate days": p.EscalateDays} {
		if v < 0 {
			return p, problem.Newf(problem.InvalidPolicy, "%s must not be negative", name)
		}
	}
	if p.MaxDevices == 0 {
		switch c {
		case VolumeMAK:
			return p, problem.New(problem.InvalidPolicy, "a volume-mak SKU needs its number of activations: set max devices (--max-devices N)")
		case VolumeHost:
			p.MaxDevices = 6 // a host key may serve 6 hosts
		default:
			p.MaxDevices = 1
		}
	}
	if p.MaxDevices > MaxMaxDevices {
		return p, problem.Newf(problem.InvalidPolicy, "max devices must be at most %d", MaxMaxDevices)
	}
	if c == OEM && p.MaxDevices != 1 {
		return p, problem.New(problem.InvalidPolicy, "an oem SKU is bound to one device: max devices must be 1")
	}
	if p.ValidDays == 0 {
		switch c {
		case Subscription:
			p.ValidDays = 365
		case Trial:
			p.ValidDays = 30
		}
	}
	if p.ValidDays > 100*365 {
		return p, problem.New(problem.InvalidPolicy, "valid days must be at most 36500")
	}
	if p.GraceDays == 0 && c != Trial && !zero.GraceDays {
		p.GraceDays = DefaultGraceDays
	}
	if p.GraceDays > 365 {
		return p, problem.New(problem.InvalidPolicy, "grace days must be at most 365")
	}
	if p.Tolerance == 0 && !zero.Tolerance {
		p.Tolerance = DefaultTolerance
	}
	if p.Tolerance > 20 {
		return p, problem.New(problem.InvalidPolicy, "tolerance must be at most 20 points (see docs/hardware.md)")
	}
	if p.RevalidateHours == 0 {
		p.RevalidateHours = DefaultRevalidateHours
	}
	if p.ReminderMinutes == 0 {
		p.ReminderMinutes = DefaultReminderMinutes
	}
	if p.EscalateDays == 0 {
		p.EscalateDays = DefaultEscalateDays
	}
	// Bounds that keep every time a license or verdict names within a
	// sensible range (a large number of hours overflowed into the past).
	for _, b := range []struct {
		name     string
		v, limit int
	}{
		{"revalidate hours", p.RevalidateHours, 10 * 365 * 24},
		{"reminder minutes", p.ReminderMinutes, 30 * 24 * 60},
		{"escalate days", p.EscalateDays, 365},
	} {
		if b.v > b.limit {
			return p, problem.Newf(problem.InvalidPolicy, "%s must be at most %d", b.name, b.limit)
		}
	}
	return p, nil
}

// ValidID reports whether s is a valid product or SKU id (ident.ValidName).
func ValidID(s string) bool { return ident.ValidName(s) }

func checkID(kind, id string) error {
	if !ValidID(id) {
		return problem.Newf(problem.InvalidRequest, "%s id %q: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit and not ending with '.'; not a device name Windows keeps (con, prn, aux, nul, com1, lpt1, …), since a product id names a directory on the device", kind, id)
	}
	return nil
}

// Store is what the catalog needs.
type Store interface {
	CreateProduct(ctx context.Context, p store.Product, a store.AuditEntry) error
	Product(ctx context.Context, id string) (store.Product, error)
	Products(ctx context.Context) ([]store.Product, error)
	CreateSKU(ctx context.Context, s store.SKU, a store.AuditEntry) (store.SKU, error)
	SKU(ctx context.Context, id string) (store.SKU, error)
	SKUs(ctx context.Context) ([]store.SKU, error)
}

// Service manages the catalog.
type Service struct {
	st Store
}

// New returns a catalog service over st.
func New(st Store) *Service { return &Service{st: st} }

// Actor identifies who makes a change, for the audit log.
type Actor struct {
	ID        string
	RequestID string
}

func (a Actor) entry(action, target string, detail any) store.AuditEntry {
	d, _ := json.Marshal(detail)
	return store.AuditEntry{At: time.Now().UTC(), Actor: a.ID, Action: action, Target: target, Detail: string(d), RequestID: a.RequestID}
}

// CreateProduct creates a product with a fresh hardware salt.
func (s *Service) CreateProduct(ctx context.Context, by Actor, id, name string) (store.Product, error) {
	if err := checkID("product", id); err != nil {
		return store.Product{}, err
	}
	if name == "" {
		name = id
	}
	if strings.TrimSpace(name) == "" {
		return store.Product{}, problem.New(problem.InvalidRequest, "a product name of only spaces: give its name (--name NAME), or leave it out to use the id")
	}
	if err := text.Check("product name", name, 200); err != nil {
		return store.Product{}, err
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	p := store.Product{ID: id, Name: name, HardwareSalt: salt, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	err := s.st.CreateProduct(ctx, p, by.entry("product.create", id, map[string]string{"name": name}))
	if errors.Is(err, store.ErrExists) {
		return store.Product{}, problem.Newf(problem.ProductExists, "product %q exists", id)
	}
	if err != nil {
		return store.Product{}, err
	}
	return p, nil
}

// Product returns a product.
func (s *Service) Product(ctx context.Context, id string) (store.Product, error) {
	p, err := s.st.Product(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return p, problem.Newf(problem.ProductNotFound, "no product %q", id)
	}
	return p, err
}

// Products lists products.
func (s *Service) Products(ctx context.Context) ([]store.Product, error) { return s.st.Products(ctx) }

// SKUSpec is what a publisher gives to create a SKU.
type SKUSpec struct {
	ID           string
	ProductID    string
	Edition      string
	Channel      Channel
	Policy       store.Policy
	Zero         ZeroOnPurpose
	Entitlements []string
}

// CreateSKU validates spec, fills policy defaults and stores the SKU.
func (s *Service) CreateSKU(ctx context.Context, by Actor, spec SKUSpec) (store.SKU, error) {
	if err := checkID("sku", spec.ID); err != nil {
		return store.SKU{}, err
	}
	if spec.ProductID == "" {
		return store.SKU{}, problem.New(problem.InvalidRequest, "a SKU needs its product (--product ID)")
	}
	if strings.TrimSpace(spec.Edition) == "" {
		return store.SKU{}, problem.New(problem.InvalidRequest, "a SKU needs an edition name (--edition NAME), not only spaces")
	}
	if err := text.Check("edition", spec.Edition, 100); err != nil {
		return store.SKU{}, err
	}
	if len(spec.Entitlements) > 64 {
		return store.SKU{}, problem.New(problem.InvalidRequest, "at most 64 entitlements")
	}
	for _, e := range spec.Entitlements {
		if !ident.WellFormed(e) {
			return store.SKU{}, problem.Newf(problem.InvalidRequest, "entitlement %q: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", e)
		}
	}
	policy, err := Defaults(spec.Channel, spec.Policy, spec.Zero)
	if err != nil {
		return store.SKU{}, err
	}
	sku := store.SKU{ID: spec.ID, ProductID: spec.ProductID, Edition: spec.Edition, Channel: string(spec.Channel), Policy: policy, Entitlements: spec.Entitlements, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	out, err := s.st.CreateSKU(ctx, sku, by.entry("sku.create", spec.ID, map[string]any{"product": spec.ProductID, "edition": spec.Edition, "channel": spec.Channel, "policy": policy}))
	switch {
	case errors.Is(err, store.ErrExists):
		return store.SKU{}, problem.Newf(problem.SKUExists, "SKU %q exists", spec.ID)
	case errors.Is(err, store.ErrNotFound):
		return store.SKU{}, problem.Newf(problem.ProductNotFound, "no product %q: create it first (echt admin product create %s --name NAME)", spec.ProductID, spec.ProductID)
	case errors.Is(err, store.ErrExhausted):
		return store.SKU{}, problem.New(problem.KeyspaceExhaust, "all 65535 key groups are in use")
	}
	return out, err
}

// SKU returns a SKU.
func (s *Service) SKU(ctx context.Context, id string) (store.SKU, error) {
	k, err := s.st.SKU(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return k, problem.Newf(problem.SKUNotFound, "no SKU %q", id)
	}
	return k, err
}

// SKUs lists SKUs.
func (s *Service) SKUs(ctx context.Context) ([]store.SKU, error) { return s.st.SKUs(ctx) }
