package echt

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/signing"
)

// Remedy is what a person can do about a reason.
type Remedy = api.Remedy

// Verdict is a signed online verdict of the server. A GENUINE verdict is
// also a genuine ticket until TicketExpiresAt.
type Verdict = api.Verdict

func verifyVerdict(v *signing.Verifier, data []byte) (*Verdict, error) {
	env, err := signing.Parse(data)
	if err != nil {
		return nil, err
	}
	payload, err := v.Verify(env, signing.TypeVerdict)
	if err != nil {
		return nil, err
	}
	var vd Verdict
	if err := json.Unmarshal(payload, &vd); err != nil {
		return nil, err
	}
	if vd.Format != api.VerdictFormat {
		return nil, errors.New("not an echt verdict")
	}
	return &vd, nil
}

// Errors of TicketVerifier.Verify.
var (
	ErrTicketInvalid = errors.New("echt: not a valid genuine ticket of this publisher")
	ErrTicketExpired = errors.New("echt: the genuine ticket has expired")
	ErrNotGenuine    = errors.New("echt: the ticket does not say genuine")
	ErrWrongProduct  = errors.New("echt: the ticket is for another product")
)

// TicketVerifier lets other services (download servers, update servers)
// accept genuine tickets: signed GENUINE verdicts that have not expired.
// It needs only the publisher's root public key; it is safe for
// concurrent use.
type TicketVerifier struct {
	v *signing.Verifier
}

// NewTicketVerifier trusts the given root public keys. A key that is not an
// Ed25519 public key (32 bytes) is left out; with none left, Verify says so.
func NewTicketVerifier(roots ...[]byte) *TicketVerifier {
	keys := make([]ed25519.PublicKey, 0, len(roots))
	for _, r := range roots {
		keys = append(keys, r)
	}
	return &TicketVerifier{v: signing.NewVerifier(keys...)}
}

// Verify checks a ticket for product at now and returns its verdict.
func (t *TicketVerifier) Verify(ticket []byte, product string, now time.Time) (*Verdict, error) {
	if len(t.v.Roots()) == 0 {
		return nil, fmt.Errorf("%w: the verifier holds no root key (NewTicketVerifier takes the publisher's 32-byte Ed25519 root public key)", ErrTicketInvalid)
	}
	vd, err := verifyVerdict(t.v, ticket)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTicketInvalid, err)
	}
	switch {
	case vd.Status != StatusGenuine:
		return vd, ErrNotGenuine
	case vd.TicketExpiresAt.IsZero() || !now.Before(vd.TicketExpiresAt):
		return vd, ErrTicketExpired
	case product != "" && vd.Product != product:
		return vd, ErrWrongProduct
	}
	return vd, nil
}
