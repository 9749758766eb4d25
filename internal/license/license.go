// Package license is the signed license a device receives when it is
// activated: its payload, its file format, and how it is signed and
// verified. The format is documented in docs/licenses.md.
//
// Trust model: a license is a signing.Envelope of type "license" signed by
// a signing key certified by the publisher's root key. Anyone holding the
// root public key can verify a license offline; nobody without a signing
// key can make or change one. The license binds an activation to the
// device's hashed hardware profile and to a time window; the client's
// nonce, echoed in the payload, proves to the client that the license was
// made for its request (a replay from a fake server is refused).
package license

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/jsonw"
	"github.com/echt-dev/echt/internal/signing"
)

// Format is the payload format identifier.
const Format = "echt-license/1"

// License is the signed payload. Field order is the canonical order: the
// server serialises this struct with encoding/json, and verifiers verify
// the bytes exactly as received, never a re-serialisation.
type License struct {
	Format          string           `json:"format"`
	LicenseID       string           `json:"license_id"`
	ActivationID    string           `json:"activation_id"`
	Product         string           `json:"product"`
	ProductName     string           `json:"product_name"`
	Edition         string           `json:"edition"`
	SKU             string           `json:"sku"`
	Channel         string           `json:"channel"`
	Entitlements    []string         `json:"entitlements"`
	PartialKey      string           `json:"partial_key"`
	Hardware        hardware.Profile `json:"hardware"`
	Tolerance       int              `json:"tolerance"`
	IssuedAt        time.Time        `json:"issued_at"`
	NotAfter        time.Time        `json:"not_after,omitzero"`
	RevalidateAfter time.Time        `json:"revalidate_after"`
	ReminderMinutes int              `json:"reminder_minutes"`
	EscalateDays    int              `json:"escalate_days"`
	KeyID           string           `json:"kid"`
	Nonce           string           `json:"nonce,omitempty"`
	Server          string           `json:"server,omitempty"`
}

// Errors from Verify, besides those of package signing.
var (
	ErrFormat  = errors.New("not an echt license")
	ErrKeyID   = errors.New("license key id does not match its signature")
	ErrExpired = errors.New("license expired")
)

// Payload serialises l as signed by the key kid.
func Payload(l License, kid string) ([]byte, error) {
	l.Format = Format
	l.KeyID = kid
	if l.Entitlements == nil {
		l.Entitlements = []string{}
	}
	if payload, ok := appendPayload(make([]byte, 0, 1024), &l); ok {
		return payload, nil
	}
	payload, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("license payload: %w", err)
	}
	return payload, nil
}

// appendPayload writes l as encoding/json does (the documented canonical
// form), without reflection: a license is signed on every activation. It
// reports false for what only encoding/json can say (a time it cannot
// encode), and the caller falls back to it.
func appendPayload(b []byte, l *License) ([]byte, bool) {
	str := func(name, v string) { b = jsonw.String(jsonw.Key(b, name), v) }
	num := func(name string, v int) { b = strconv.AppendInt(jsonw.Key(b, name), int64(v), 10) }
	ok := true
	tm := func(name string, v time.Time) {
		var good bool
		b, good = jsonw.Time(jsonw.Key(b, name), v)
		ok = ok && good
	}
	b = append(b, `{"format":`...)
	b = jsonw.String(b, l.Format)
	str("license_id", l.LicenseID)
	str("activation_id", l.ActivationID)
	str("product", l.Product)
	str("product_name", l.ProductName)
	str("edition", l.Edition)
	str("sku", l.SKU)
	str("channel", l.Channel)
	b = jsonw.Strings(jsonw.Key(b, "entitlements"), l.Entitlements)
	str("partial_key", l.PartialKey)
	b = l.Hardware.AppendJSON(jsonw.Key(b, "hardware"))
	num("tolerance", l.Tolerance)
	tm("issued_at", l.IssuedAt)
	if !l.NotAfter.IsZero() {
		tm("not_after", l.NotAfter)
	}
	tm("revalidate_after", l.RevalidateAfter)
	num("reminder_minutes", l.ReminderMinutes)
	num("escalate_days", l.EscalateDays)
	str("kid", l.KeyID)
	if l.Nonce != "" {
		str("nonce", l.Nonce)
	}
	if l.Server != "" {
		str("server", l.Server)
	}
	return append(b, '}'), ok
}

// Sign serialises l, signs it with s and returns the license file bytes.
func Sign(s *signing.Signer, l License) ([]byte, error) {
	payload, err := Payload(l, s.KeyID())
	if err != nil {
		return nil, err
	}
	return s.Sign(signing.TypeLicense, payload).MarshalJSON()
}

// SignBatched is Sign through a batch signer (see signing.BatchSigner).
func SignBatched(ctx context.Context, b *signing.BatchSigner, l License) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		kid := b.CurrentKeyID()
		payload, err := Payload(l, kid)
		if err != nil {
			return nil, err
		}
		env, err := b.SignAs(ctx, kid, signing.TypeLicense, payload)
		if errors.Is(err, signing.ErrKeyRotated) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sign license: %w", err)
		}
		return env.MarshalJSON()
	}
}

// Verify checks a license file's signature and structure and returns the
// license. It does not check time, product or hardware: see Check.
func Verify(v *signing.Verifier, data []byte) (License, *signing.Envelope, error) {
	env, err := signing.Parse(data)
	if err != nil {
		return License{}, nil, err
	}
	payload, err := v.Verify(env, signing.TypeLicense)
	if err != nil {
		return License{}, nil, err
	}
	var l License
	if err := json.Unmarshal(payload, &l); err != nil {
		return License{}, nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if l.Format != Format || l.ActivationID == "" || l.Product == "" {
		return License{}, nil, ErrFormat
	}
	if l.KeyID != env.KeyID {
		return License{}, nil, ErrKeyID
	}
	return l, env, nil
}

// Parse decodes a license payload without verifying it. Servers use it on
// licenses clients send, then check every field against their records.
func Parse(data []byte) (License, error) {
	env, err := signing.Parse(data)
	if err != nil {
		return License{}, err
	}
	if env.Type != signing.TypeLicense {
		return License{}, ErrFormat
	}
	var l License
	if err := json.Unmarshal(env.Payload, &l); err != nil || l.Format != Format {
		return License{}, ErrFormat
	}
	return l, nil
}

// Expired reports whether l is past its not-after time at now.
func (l License) Expired(now time.Time) bool {
	return !l.NotAfter.IsZero() && !now.Before(l.NotAfter)
}
