package echt

import (
	"encoding/json"
	"time"

	"github.com/echt-dev/echt/internal/signing"
)

// Remedy is what a person can do about a reason.
type Remedy struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// Verdict is a signed online verdict of the server.
type Verdict struct {
	Format       string    `json:"format"`
	VerdictID    string    `json:"verdict_id"`
	Status       string    `json:"status"`
	Reason       string    `json:"reason"`
	Remedy       Remedy    `json:"remedy"`
	Product      string    `json:"product"`
	ActivationID string    `json:"activation_id,omitempty"`
	PartialKey   string    `json:"partial_key,omitempty"`
	Nonce        string    `json:"nonce"`
	CheckedAt    time.Time `json:"checked_at"`
	NextCheck    time.Time `json:"next_check"`
	TicketExpiry time.Time `json:"ticket_expires_at,omitzero"`
}

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
	return &vd, nil
}
