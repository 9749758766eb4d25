package signing

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// envelopeJSON has Envelope's fields without its methods, for the slow path.
type envelopeJSON struct {
	Type      string      `json:"type"`
	KeyID     string      `json:"kid"`
	Payload   []byte      `json:"payload"`
	Signature []byte      `json:"sig"`
	Cert      *Envelope   `json:"cert,omitempty"`
	Batch     *BatchProof `json:"batch,omitempty"`
	_         [0]func()   // not comparable, like Envelope
}

func plainID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// MarshalJSON writes the envelope in the same form encoding/json would,
// without reflection, and reuses the encoded certificate of the key that
// signed it: envelopes are written on every activation and validation.
func (e *Envelope) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 96+len(e.Type)+len(e.KeyID)+base64.StdEncoding.EncodedLen(len(e.Payload))+base64.StdEncoding.EncodedLen(len(e.Signature))+len(e.certJSON)+48*len(batchPath(e))))
}

// AppendJSON appends the envelope, as MarshalJSON writes it, to dst.
func (e *Envelope) AppendJSON(dst []byte) ([]byte, error) {
	if !plainID(e.Type) || !plainID(e.KeyID) {
		m, err := json.Marshal(envelopeJSON{Type: e.Type, KeyID: e.KeyID, Payload: e.Payload, Signature: e.Signature, Cert: e.Cert, Batch: e.Batch})
		if err != nil {
			return dst, err
		}
		return append(dst, m...), nil
	}
	b := dst
	b = append(b, `{"type":"`...)
	b = append(b, e.Type...)
	b = append(b, `","kid":"`...)
	b = append(b, e.KeyID...)
	b = append(b, `","payload":"`...)
	b = base64.StdEncoding.AppendEncode(b, e.Payload)
	b = append(b, `","sig":"`...)
	b = base64.StdEncoding.AppendEncode(b, e.Signature)
	b = append(b, '"')
	if e.Cert != nil {
		cert := e.certJSON
		if cert == nil {
			var err error
			if cert, err = e.Cert.MarshalJSON(); err != nil {
				return dst, err
			}
		}
		b = append(b, `,"cert":`...)
		b = append(b, cert...)
	}
	if e.Batch != nil {
		b = append(b, `,"batch":{"index":`...)
		b = strconv.AppendInt(b, int64(e.Batch.Index), 10)
		b = append(b, `,"path":[`...)
		for i, p := range e.Batch.Path {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, p)
			b = append(b, '"')
		}
		b = append(b, "]}"...)
	}
	return append(b, '}'), nil
}

func batchPath(e *Envelope) [][]byte {
	if e.Batch == nil {
		return nil
	}
	return e.Batch.Path
}
