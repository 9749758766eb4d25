// Package api holds the JSON bodies of echt's client endpoints: what the
// SDK sends and the server answers. Both sides use these types, so the
// wire format has one definition. Field names are a public contract.
package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/echt-dev/echt/internal/hardware"
)

// NonceHeader carries the client's nonce on requests without a body.
const NonceHeader = "Echt-Nonce"

// SignatureHeader carries the server's signature of an error response:
// "kid=<key id>, sig=<base64>", over ResponseMessage.
const SignatureHeader = "Echt-Signature"

// CertificateHeader carries, base64, the certificate of the key that made
// SignatureHeader.
const CertificateHeader = "Echt-Signing-Certificate"

// ActivateRequest asks to activate this device. Without Key the server
// looks for the device's digital license of Product.
type ActivateRequest struct {
	Key      string           `json:"key,omitempty"`
	Product  string           `json:"product,omitempty"`
	Hardware hardware.Profile `json:"hardware"`
	Nonce    string           `json:"nonce"`
	// Replaces is the license this device holds now, when a new key is
	// entered on an activated device (an upgrade, or a change of key): the
	// new activation then takes its place instead of counting as a repair
	// by someone else's key.
	Replaces json.RawMessage `json:"replaces,omitempty"`
}

// ActivateResponse is a successful activation. License is the signed
// license file; everything else repeats what it says, for convenience.
type ActivateResponse struct {
	License      json.RawMessage `json:"license"` // first: the server splices it in
	ActivationID string          `json:"activation_id"`
	Reason       string          `json:"reason"` // ACTIVATED, ALREADY_ACTIVATED or DIGITAL_LICENSE
	Product      string          `json:"product"`
	Edition      string          `json:"edition"`
	SKU          string          `json:"sku"`
	Channel      string          `json:"channel"`
	PartialKey   string          `json:"partial_key"`
	NotAfter     time.Time       `json:"not_after,omitzero"`
}

// DeactivateRequest releases this device's activation. The license proves
// the caller holds it.
type DeactivateRequest struct {
	License  json.RawMessage  `json:"license"`
	Hardware hardware.Profile `json:"hardware"`
	Nonce    string           `json:"nonce"`
}

// DeactivateResponse confirms a deactivation.
type DeactivateResponse struct {
	ActivationID string `json:"activation_id"`
	Status       string `json:"status"`
	Nonce        string `json:"nonce"`
}

// ProductInfo is the public part of a product: what a client needs to hash
// its hardware.
type ProductInfo struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	HardwareSalt []byte `json:"hardware_salt"`
	// GraceDays is the grace period of a copy not activated yet: the
	// longest of the product's SKUs'. Absent while it has no SKU.
	GraceDays *int `json:"grace_days,omitempty"`
}

// KeyCheckRequest asks whether a key is genuine.
type KeyCheckRequest struct {
	Key string `json:"key"`
}

// KeyCheckResponse tells a buyer about a key without revealing anything
// about its owner.
type KeyCheckResponse struct {
	Genuine     bool   `json:"genuine"`
	Status      string `json:"status"` // unused, activated, blocked, invalid, typo
	Reason      string `json:"reason"`
	Product     string `json:"product,omitempty"`
	ProductName string `json:"product_name,omitempty"`
	Edition     string `json:"edition,omitempty"`
	Channel     string `json:"channel,omitempty"`
}

// VerdictFormat is the payload format of a signed verdict.
const VerdictFormat = "echt-verdict/1"

// Remedy is what a person can do about a reason.
type Remedy struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// Verdict is the signed payload of an online validation. A verdict with
// status GENUINE doubles as a genuine ticket until TicketExpiresAt: other
// services (downloads, updates) accept it as proof of a genuine copy.
type Verdict struct {
	Format          string    `json:"format"`
	VerdictID       string    `json:"verdict_id"`
	Status          string    `json:"status"` // GENUINE, NOT_GENUINE, NOT_ACTIVATED, GRACE
	Reason          string    `json:"reason"`
	Remedy          Remedy    `json:"remedy"`
	Product         string    `json:"product"`
	Edition         string    `json:"edition,omitempty"`
	SKU             string    `json:"sku,omitempty"`
	Entitlements    []string  `json:"entitlements,omitempty"`
	ActivationID    string    `json:"activation_id,omitempty"`
	PartialKey      string    `json:"partial_key,omitempty"`
	Hardware        string    `json:"hardware_digest,omitempty"`
	LicenseDigest   string    `json:"license_digest,omitempty"`
	Nonce           string    `json:"nonce"`
	CheckedAt       time.Time `json:"checked_at"`
	NextCheck       time.Time `json:"next_check"`
	TicketExpiresAt time.Time `json:"ticket_expires_at,omitzero"`
	ResultsURL      string    `json:"results_url,omitempty"`
}

// RequestDigest names the request a signed answer is for: its method, its
// API path (from "/v1/" on: a reverse proxy may put a prefix before it)
// and its body, as the server received them and the client sent them. An
// answer to a request altered on its way (another key, another license)
// then fails the client's check of the signature.
func RequestDigest(method, path string, body []byte) string {
	if i := strings.Index(path, "/v1/"); i >= 0 {
		path = path[i:]
	}
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{' '})
	h.Write([]byte(path))
	h.Write([]byte{'\n'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ResponseMessage is what the signature of an answer covers (the
// SignatureHeader): "<nonce>\n<request digest>\n<status>\n<body>".
func ResponseMessage(nonce, request string, status int, body []byte) []byte {
	m := make([]byte, 0, len(nonce)+len(request)+len(body)+8)
	m = append(m, nonce...)
	m = append(m, '\n')
	m = append(m, request...)
	m = append(m, '\n')
	m = strconv.AppendInt(m, int64(status), 10)
	m = append(m, '\n')
	return append(m, body...)
}

// HardwareDigest is a verdict's hardware_digest: what the server judged,
// so a client can tell a verdict about an altered request from one about
// its own.
func HardwareDigest(p hardware.Profile) string {
	d := sha256.Sum256(p.AppendJSON(make([]byte, 0, 512)))
	return hex.EncodeToString(d[:8])
}

// LicenseDigest is a verdict's license_digest: of the license bytes the
// server received.
func LicenseDigest(license []byte) string {
	return LicenseDigestOf(sha256.Sum256(license))
}

// LicenseDigestOf is LicenseDigest from the license bytes' SHA-256, for a
// caller that has it already.
func LicenseDigestOf(sum [sha256.Size]byte) string {
	return hex.EncodeToString(sum[:8])
}

// ValidateRequest asks the server whether this copy is genuine.
type ValidateRequest struct {
	License  json.RawMessage  `json:"license"`
	Hardware hardware.Profile `json:"hardware"`
	Nonce    string           `json:"nonce"`
	Lang     string           `json:"lang,omitempty"`
}

// ValidateResponse carries the signed verdict and, for convenience, its
// main fields.
type ValidateResponse struct {
	Verdict    json.RawMessage `json:"verdict"`
	Status     string          `json:"status"`
	Reason     string          `json:"reason"`
	Remedy     Remedy          `json:"remedy"`
	CheckedAt  time.Time       `json:"checked_at"`
	NextCheck  time.Time       `json:"next_check"`
	ResultsURL string          `json:"results_url"`
}
