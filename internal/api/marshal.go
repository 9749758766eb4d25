package api

import (
	"encoding/json"

	"github.com/echt-dev/echt/internal/jsonw"
)

// Verdicts and validation responses are written on every online
// validation. AppendVerdict and AppendValidateResponse write exactly what
// encoding/json writes for them (a test holds them to it), without
// reflection. They are functions, not MarshalJSON methods: Verdict is the
// SDK's echt.Verdict, and a method would be promoted into every struct of
// a publisher's that embeds one, changing how encoding/json writes it.

func appendRemedy(b []byte, r Remedy) []byte {
	b = append(b, `{"id":`...)
	b = jsonw.String(b, r.ID)
	b = append(b, `,"text":`...)
	b = jsonw.String(b, r.Text)
	return append(b, '}')
}

func appendMember(b []byte, name, v string) []byte {
	return jsonw.String(jsonw.Key(b, name), v)
}

// AppendVerdict appends v to dst as encoding/json writes it.
func AppendVerdict(dst []byte, v Verdict) ([]byte, error) {
	b := dst
	b = append(b, `{"format":`...)
	b = jsonw.String(b, v.Format)
	b = appendMember(b, "verdict_id", v.VerdictID)
	b = appendMember(b, "status", v.Status)
	b = appendMember(b, "reason", v.Reason)
	b = append(b, `,"remedy":`...)
	b = appendRemedy(b, v.Remedy)
	b = appendMember(b, "product", v.Product)
	for _, m := range [...]struct{ name, v string }{{"edition", v.Edition}, {"sku", v.SKU}} {
		if m.v != "" {
			b = appendMember(b, m.name, m.v)
		}
	}
	if len(v.Entitlements) > 0 {
		b = append(b, `,"entitlements":`...)
		b = jsonw.Strings(b, v.Entitlements)
	}
	for _, m := range [...]struct{ name, v string }{{"activation_id", v.ActivationID}, {"partial_key", v.PartialKey}, {"hardware_digest", v.Hardware}, {"license_digest", v.LicenseDigest}} {
		if m.v != "" {
			b = appendMember(b, m.name, m.v)
		}
	}
	b = appendMember(b, "nonce", v.Nonce)
	var ok1, ok2, ok3 bool
	b, ok1 = jsonw.Time(append(b, `,"checked_at":`...), v.CheckedAt)
	b, ok2 = jsonw.Time(append(b, `,"next_check":`...), v.NextCheck)
	ok3 = true
	if !v.TicketExpiresAt.IsZero() {
		b, ok3 = jsonw.Time(append(b, `,"ticket_expires_at":`...), v.TicketExpiresAt)
	}
	if !ok1 || !ok2 || !ok3 {
		return appendMarshal(dst, v) // for its error
	}
	if v.ResultsURL != "" {
		b = appendMember(b, "results_url", v.ResultsURL)
	}
	return append(b, '}'), nil
}

// appendMarshal appends what encoding/json writes for v to dst, or returns
// dst and its error.
func appendMarshal(dst []byte, v any) ([]byte, error) {
	m, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, m...), nil
}

// AppendValidateResponse appends r to dst as encoding/json writes it,
// provided r.Verdict is compact JSON without <, > or & (as signed envelopes
// are): it is copied as is.
func AppendValidateResponse(dst []byte, r ValidateResponse) ([]byte, error) {
	b := append(dst, `{"verdict":`...)
	b = jsonw.Raw(b, r.Verdict)
	b = appendMember(b, "status", r.Status)
	b = appendMember(b, "reason", r.Reason)
	b = append(b, `,"remedy":`...)
	b = appendRemedy(b, r.Remedy)
	var ok1, ok2 bool
	b, ok1 = jsonw.Time(append(b, `,"checked_at":`...), r.CheckedAt)
	b, ok2 = jsonw.Time(append(b, `,"next_check":`...), r.NextCheck)
	if !ok1 || !ok2 {
		return appendMarshal(dst, r)
	}
	b = appendMember(b, "results_url", r.ResultsURL)
	return append(b, '}'), nil
}

// EncodeActivateResponse writes r as encoding/json would (a compact license
// envelope without <, > or &, as the server makes it), without reflection:
// one is written for every activation.
func EncodeActivateResponse(r ActivateResponse) ([]byte, error) {
	b := make([]byte, 0, len(r.License)+320)
	b = append(b, `{"license":`...)
	b = jsonw.Raw(b, r.License)
	b = appendMember(b, "activation_id", r.ActivationID)
	b = appendMember(b, "reason", r.Reason)
	b = appendMember(b, "product", r.Product)
	b = appendMember(b, "edition", r.Edition)
	b = appendMember(b, "sku", r.SKU)
	b = appendMember(b, "channel", r.Channel)
	b = appendMember(b, "partial_key", r.PartialKey)
	if !r.NotAfter.IsZero() {
		var ok bool
		if b, ok = jsonw.Time(jsonw.Key(b, "not_after"), r.NotAfter); !ok {
			return json.Marshal(r)
		}
	}
	return append(b, '}'), nil
}
