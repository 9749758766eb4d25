// Package problem holds echt's stable error and reason codes and their
// RFC 9457 problem+json representation. It is shared by the server, the CLI
// and the public SDK: an error the SDK decodes from a response matches the
// same sentinel (errors.Is) as the error the server produced.
//
// The package is a leaf: it imports only the standard library.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// Error is an error carrying a stable Code. Detail is safe to show to the
// client; the wrapped cause is for logs only and never leaves the server.
type Error struct {
	Code   Code
	Detail string
	// RetryAfter, when positive, is sent as a Retry-After header.
	RetryAfter time.Duration
	// Extra holds additional members of the problem document (for example
	// "remedy" or "partial_key"). Values must be JSON-encodable.
	Extra map[string]any
	cause error
}

// New returns an Error with the code and a client-safe detail.
func New(code Code, detail string) *Error {
	return &Error{Code: code, Detail: detail}
}

// Newf is New with a format string.
func Newf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with the code and detail that records cause for
// logging. The cause is never sent to a client.
func Wrap(code Code, detail string, cause error) *Error {
	return &Error{Code: code, Detail: detail, cause: cause}
}

func (e *Error) Error() string {
	msg := string(e.Code)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, problem.ErrKeyBlocked) works on both ends of the wire.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// With returns a copy of e with an extra member set.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Extra = make(map[string]any, len(e.Extra)+1)
	for k, v := range e.Extra {
		c.Extra[k] = v
	}
	c.Extra[key] = value
	return &c
}

// Sentinels for errors.Is. Compare by code; never by message.
var (
	ErrInvalidRequest         = &Error{Code: InvalidRequest}
	ErrUnauthorized           = &Error{Code: Unauthorized}
	ErrForbidden              = &Error{Code: Forbidden}
	ErrNotFound               = &Error{Code: NotFound}
	ErrRateLimited            = &Error{Code: RateLimited}
	ErrStoreUnavailable       = &Error{Code: StoreUnavailable}
	ErrKeyInvalid             = &Error{Code: KeyInvalid}
	ErrKeyTypo                = &Error{Code: KeyTypo}
	ErrKeyBlocked             = &Error{Code: KeyBlocked}
	ErrKeyInUseElsewhere      = &Error{Code: KeyInUseElsewhere}
	ErrActivationLimit        = &Error{Code: ActivationLimitReached}
	ErrSKUMismatch            = &Error{Code: SKUMismatch}
	ErrNoDigitalLicense       = &Error{Code: NoDigitalLicense}
	ErrHardwareChanged        = &Error{Code: HardwareChanged}
	ErrActivationNotFound     = &Error{Code: ActivationNotFound}
	ErrActivationRevoked      = &Error{Code: ActivationRevoked}
	ErrDeactivationNotAllowed = &Error{Code: DeactivationNotAllowed}
	ErrLicenseTampered        = &Error{Code: LicenseTampered}
	ErrLicenseMissing         = &Error{Code: LicenseMissing}
	ErrLicenseExpired         = &Error{Code: LicenseExpired}
	ErrClockTampered          = &Error{Code: ClockTampered}
	ErrServerUnreachable      = &Error{Code: ServerUnreachable}
	ErrServerUntrusted        = &Error{Code: ServerUntrusted}
)

// CodeOf returns the code of the first *Error in err's chain, Internal for
// an error without one, and "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return Internal
}

// Document is the JSON form of a problem (RFC 9457) with echt's members.
type Document struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	Code      Code   `json:"code"`
	RequestID string `json:"request_id,omitempty"`
	// Extra members, flattened into the document.
	Extra map[string]any `json:"-"`
}

// MarshalJSON flattens Extra into the object.
func (d Document) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 8+len(d.Extra))
	for k, v := range d.Extra {
		m[k] = v
	}
	m["type"] = d.Type
	m["title"] = d.Title
	m["status"] = d.Status
	m["code"] = d.Code
	if d.Detail != "" {
		m["detail"] = d.Detail
	}
	if d.Instance != "" {
		m["instance"] = d.Instance
	}
	if d.RequestID != "" {
		m["request_id"] = d.RequestID
	}
	return json.Marshal(m)
}

// HelpPath is the path of the help page of a code on an echt server. It is
// also the problem "type" (a URI reference relative to the server).
func HelpPath(c Code) string { return "/help/errors/" + string(c) }

// Render returns the document for err. An error without a code becomes a
// generic 500 whose detail reveals nothing of the cause.
func Render(err error, requestID string) Document {
	var pe *Error
	if !errors.As(err, &pe) {
		pe = &Error{Code: Internal, Detail: "the server could not complete the request; it has been logged"}
	}
	status := pe.Code.Status()
	return Document{
		Type:      HelpPath(pe.Code),
		Title:     pe.Code.Title(),
		Status:    status,
		Detail:    pe.Detail,
		Code:      pe.Code,
		RequestID: requestID,
		Extra:     pe.Extra,
	}
}

// Encode renders err as a problem+json body and returns it with its status
// and the Retry-After duration to send (zero for none).
func Encode(err error, requestID string) (status int, retryAfter time.Duration, body []byte) {
	doc := Render(err, requestID)
	var pe *Error
	if errors.As(err, &pe) {
		retryAfter = pe.RetryAfter
	}
	if retryAfter <= 0 && (doc.Code == StoreUnavailable || doc.Code == RateLimited || doc.Code == Unavailable) {
		retryAfter = time.Second
	}
	body, _ = json.Marshal(doc)
	return doc.Status, retryAfter, append(body, '\n')
}

// WriteEncoded writes a body made by Encode.
func WriteEncoded(w http.ResponseWriter, status int, retryAfter time.Duration, body []byte) {
	if retryAfter > 0 {
		secs := int((retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Write writes err as problem+json. It sets Retry-After when the error asks
// for it (and always for STORE_UNAVAILABLE, UNAVAILABLE and RATE_LIMITED).
func Write(w http.ResponseWriter, err error, requestID string) {
	status, retry, body := Encode(err, requestID)
	WriteEncoded(w, status, retry, body)
}

// maxDocument bounds how much of a problem response Decode reads.
const maxDocument = 64 << 10

// Foreign reports whether an error answer of contentType is not
// problem+json, so not an echt server's own (another web server, a proxy's
// error page), and describes it for a person. detail is "" for an echt
// server's answer.
func Foreign(status int, contentType string) (foreign bool, detail string) {
	if mt, _, _ := mime.ParseMediaType(contentType); mt == ContentType {
		return false, ""
	}
	if contentType == "" {
		contentType = "no content type"
	}
	return true, fmt.Sprintf("answered with HTTP %d (%s), not as an echt server does", status, contentType)
}

// Decode turns an error response into an *Error carrying the server's code.
// A response that is not problem+json becomes an error with a code chosen
// from its status. Decode never panics on hostile input.
func Decode(resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	return DecodeBytes(resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), body)
}

// DecodeBytes is Decode on an already-read response.
func DecodeBytes(status int, contentType, retryAfter string, body []byte) *Error {
	e := &Error{}
	if secs, err := strconv.Atoi(retryAfter); err == nil && secs > 0 && secs < 86400 {
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == ContentType || mt == "application/json" {
		var raw map[string]json.RawMessage
		if json.Unmarshal(body, &raw) == nil {
			var code, detail string
			_ = json.Unmarshal(raw["code"], &code)
			_ = json.Unmarshal(raw["detail"], &detail)
			if code != "" && len(code) <= 64 {
				e.Code = Code(code)
				e.Detail = detail
				for k, v := range raw {
					switch k {
					case "type", "title", "status", "code", "detail", "instance":
						continue
					}
					var val any
					if json.Unmarshal(v, &val) == nil {
						if e.Extra == nil {
							e.Extra = map[string]any{}
						}
						e.Extra[k] = val
					}
				}
				return e
			}
		}
	}
	switch {
	case status == http.StatusTooManyRequests:
		e.Code = RateLimited
	case status == http.StatusUnauthorized:
		e.Code = Unauthorized
	case status == http.StatusForbidden:
		e.Code = Forbidden
	case status == http.StatusNotFound:
		e.Code = NotFound
	case status == http.StatusServiceUnavailable || status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		e.Code = Unavailable
	case status >= 400 && status < 500:
		e.Code = InvalidRequest
	default:
		e.Code = Internal
	}
	e.Detail = fmt.Sprintf("unexpected HTTP %d response", status)
	return e
}
