package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/echt-dev/echt/internal/auth"
	"github.com/echt-dev/echt/internal/ident"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/problem"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
	keyInfo
)

// reqInfo is per-request state the middleware and handlers share.
type reqInfo struct {
	id        string
	route     string
	clientIP  netip.Addr
	principal *auth.Principal
	// signErrors: the route is a client endpoint whose errors are signed.
	signErrors bool
	// body is the request body as read (bodyRead), which a signed answer
	// names (api.RequestDigest); nil if it could not be read whole.
	body     []byte
	bodyRead bool
}

func info(r *http.Request) *reqInfo {
	if i, ok := r.Context().Value(keyInfo).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// RequestID returns the request id of r.
func RequestID(r *http.Request) string { return info(r).id }

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap is the outermost middleware: request id, client address, timeout,
// body limit, panic recovery, metrics and one log line per request.
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{id: r.Header.Get("X-Request-Id"), clientIP: s.clientIP(r)}
		if !requestIDPattern.MatchString(ri.id) {
			ri.id = ident.Random(10)
		}
		w.Header().Set("X-Request-Id", ri.id)
		ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), keyInfo, ri), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "request_id", ri.id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					s.fail(sw, r, errors.New("panic"))
				}
			}
			d := time.Since(start)
			route := ri.route
			if route == "" {
				route = "unmatched"
			}
			s.metrics.observe(route, sw.status, d)
			level := slog.LevelInfo
			switch {
			case sw.status == http.StatusServiceUnavailable:
				// The database away, a timeout: expected while it lasts
				// (load balancers probe /readyz), and said once more at
				// warn by fail; not an error of the server's own.
				level = slog.LevelWarn
			case sw.status >= 500:
				level = slog.LevelError
			}
			if s.log.Enabled(ctx, level) && (s.cfg.LogRequests || sw.status >= 500) {
				attrs := []slog.Attr{
					slog.String("request_id", ri.id), slog.String("method", r.Method), slog.String("route", route),
					slog.Int("status", sw.status), slog.Int("bytes", sw.bytes), slog.Duration("duration", d), slog.String("client", ri.clientIP.String()),
				}
				if ri.principal != nil {
					attrs = append(attrs, slog.String("token_id", ri.principal.TokenID))
				}
				s.log.LogAttrs(context.Background(), level, "request", attrs...)
			}
		}()
		if r.ContentLength > s.cfg.MaxBodyBytes {
			// Refused before a byte is read, and logged and counted as
			// every other answer.
			s.fail(sw, r, problem.Newf(problem.RequestTooLarge, "request bodies are limited to %d bytes", s.cfg.MaxBodyBytes))
			return
		}
		if err := badAddress(r.URL); err != nil {
			s.fail(sw, r, err)
			return
		}
		next.ServeHTTP(sw, r)
	})
}

// badAddress refuses addresses no resource has. net/http's mux would
// answer a path that is not clean with a redirect and an HTML body; no
// API address has empty, . or .. segments. No stored name holds a NUL
// character (PostgreSQL's text cannot, and echt admin db copy must be
// able to move every SQLite value).
func badAddress(u *url.URL) error {
	p := u.Path
	switch {
	case strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/.."):
		return problem.New(problem.NotFound, "no resource at this address: it has an empty, . or .. segment")
	case strings.ContainsRune(p, 0):
		return problem.New(problem.NotFound, "no resource has a NUL character in its address")
	case !utf8.ValidString(p):
		return problem.New(problem.NotFound, "no resource has an address that is not UTF-8")
	case strings.Contains(u.RawQuery, "%00"):
		return problem.New(problem.InvalidRequest, "the query may not contain the NUL character (%00)")
	}
	if u.RawQuery == "" {
		return nil // most requests: nothing to parse
	}
	for k, vs := range u.Query() {
		if !utf8.ValidString(k) || slices.ContainsFunc(vs, func(v string) bool { return !utf8.ValidString(v) }) {
			return problem.New(problem.InvalidRequest, "the query must be UTF-8 (percent-encoded UTF-8 bytes)")
		}
	}
	return nil
}

func (s *Server) clientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	addr = addr.Unmap()
	if len(s.cfg.TrustedProxies) > 0 && s.trusted(addr) {
		// Walk X-Forwarded-For from the right, skipping trusted proxies.
		xff := r.Header.Values("X-Forwarded-For")
		var hops []string
		for _, v := range xff {
			hops = append(hops, splitComma(v)...)
		}
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(hops[i])
			if err != nil {
				break
			}
			a = a.Unmap()
			if !s.trusted(a) {
				return a
			}
			addr = a
		}
	}
	return addr
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			part := s[start:i]
			for len(part) > 0 && part[0] == ' ' {
				part = part[1:]
			}
			for len(part) > 0 && part[len(part)-1] == ' ' {
				part = part[:len(part)-1]
			}
			if part != "" {
				out = append(out, part)
			}
			start = i + 1
		}
	}
	return out
}

// fail writes err as problem+json; errors without a code are logged in full
// and answered with a generic 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ri := info(r)
	if clientGone(r, err) {
		// No one reads the answer; not a server error either (logged at
		// info with --log-requests, counted as 499 like proxies do).
		w.WriteHeader(statusClientClosed)
		return
	}
	why, answer := answerOf(err)
	switch why {
	case whyStore:
		s.log.Warn("store unavailable", "request_id", ri.id, "error", err)
	case whyTimeout:
		s.log.Warn("request timed out", "request_id", ri.id, "error", err)
	case whyInternal:
		s.log.Error("internal error", "request_id", ri.id, "route", ri.route, "error", err)
	}
	status, retry, body := problem.Encode(answer, ri.id)
	if ri.signErrors {
		s.signResponse(w, r, status, body)
	}
	problem.WriteEncoded(w, status, retry, body)
}

// Why an error is answered as it is (answerOf).
const (
	whyProblem  = iota // it is a problem with its code
	whyStore           // the store is unavailable or closed
	whyTimeout         // the request ran out of time
	whyCanceled        // the request was canceled
	whyInternal        // anything else: a generic 500
)

// answerOf is what fail answers err with: a problem as it is; the store's
// unavailability and the request's deadline or cancellation as a 503 of
// their own; anything else as err, which problem.Encode makes a generic
// 500 (INTERNAL).
func answerOf(err error) (why int, answer error) {
	var pe *problem.Error
	switch {
	case errors.As(err, &pe):
		return whyProblem, err
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed):
		return whyStore, &problem.Error{Code: problem.StoreUnavailable, Detail: "the database is unavailable; retry shortly", RetryAfter: 2 * time.Second}
	case errors.Is(err, context.DeadlineExceeded):
		return whyTimeout, &problem.Error{Code: problem.Unavailable, Detail: "the server did not finish in time; retry shortly", RetryAfter: time.Second}
	case errors.Is(err, context.Canceled):
		return whyCanceled, &problem.Error{Code: problem.Unavailable, Detail: "request canceled"}
	}
	return whyInternal, err
}

// failureCode is the code fail answers err with (a request whose client
// hung up aside), for the metrics.
func failureCode(err error) problem.Code {
	_, answer := answerOf(err)
	return problem.CodeOf(answer)
}

// statusClientClosed is the status recorded for a request whose client
// hung up before the answer (nginx's 499).
const statusClientClosed = 499

// clientGone reports whether err is the cancellation of a request whose
// client went away.
func clientGone(r *http.Request, err error) bool {
	return errors.Is(err, context.Canceled) && r.Context().Err() != nil
}

// route records the matched pattern for logs and metrics.
func (s *Server) route(pattern string, h http.HandlerFunc) (string, http.Handler) {
	return pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r).route = pattern
		h(w, r)
	})
}

// admin requires a token whose role has permission p.
func (s *Server) admin(p auth.Permission, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pr, err := s.authenticate(r)
		if err != nil {
			if problem.CodeOf(err) == problem.Unauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="echt"`)
			}
			s.fail(w, r, err)
			return
		}
		if !pr.Role.Can(p) {
			s.fail(w, r, problem.Newf(problem.Forbidden, "the %s role may not do this (needs %s)", pr.Role, p))
			return
		}
		h(w, r)
	}
}

func (s *Server) authenticate(r *http.Request) (auth.Principal, error) {
	ri := info(r)
	if ri.principal != nil {
		return *ri.principal, nil
	}
	token, ok := bearer(r)
	if !ok {
		return auth.Principal{}, auth.ErrBadToken
	}
	p, err := s.tokens.Verify(r.Context(), token)
	if err != nil {
		return auth.Principal{}, err
	}
	ri.principal = &p
	return p, nil
}

// bearer returns the token of an Authorization header "Bearer TOKEN" (the
// scheme in any case, one or more spaces after it).
func bearer(r *http.Request) (string, bool) {
	token, ok := cutPrefixFold(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	return token, ok && token != ""
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !equalFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// public applies the per-client rate limit of class c, unless the request
// carries a valid API token (load generators and the publisher's own
// services authenticate and are not limited per address).
func (s *Server) public(c limitClass, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if token, ok := bearer(r); ok {
			// A valid token is exempt. A token verified valid lately is
			// looked up at once; any other only within the address's budget
			// of token look-ups, so that made-up tokens cannot make the
			// database work without limit. Past that budget the request
			// is an ordinary one.
			if s.tokens.Known(token) || s.limits.allowed(limitToken, info(r).clientIP) {
				_, err := s.authenticate(r)
				if err == nil {
					h(w, r)
					return
				}
				if !errors.Is(err, auth.ErrBadToken) {
					// The token could not be checked (the store is
					// unavailable): say so, rather than limit a
					// publisher's service as if it were anonymous.
					s.fail(w, r, err)
					return
				}
			}
		}
		if wait, ok := s.limits.allow(c, info(r).clientIP); !ok {
			s.fail(w, r, &problem.Error{Code: problem.RateLimited, Detail: "too many requests from your address; slow down", RetryAfter: wait})
			return
		}
		h(w, r)
	}
}

// decode reads a JSON body into v. strict refuses unknown fields.
func (s *Server) decode(r *http.Request, v any, strict bool) error {
	b, err := readBody(r, nil)
	if err != nil {
		return err
	}
	return decodeBytes(b, v, strict)
}

// noFields accepts an empty body or an empty JSON object, for admin
// endpoints that take no parameters (unknown fields are refused there as
// on every admin endpoint).
func noFields(r *http.Request) error {
	b, err := readRaw(r, nil)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return err
	}
	var none struct{}
	return decodeBytes(b, &none, true)
}

// readRaw reads a request body, bounded by the body limit (413 beyond).
func readRaw(r *http.Request, dst []byte) ([]byte, error) {
	b, err := appendAll(dst, r.Body, r.ContentLength)
	if ri := info(r); ri.signErrors {
		ri.body, ri.bodyRead = b, true
		if err != nil {
			ri.body = nil
		}
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, problem.Newf(problem.RequestTooLarge, "request bodies are limited to %d bytes", mbe.Limit)
		}
		// The cause names this node's and the peer's addresses: keep it
		// out of the answer.
		return nil, problem.New(problem.InvalidRequest, "the request body could not be read (the connection was too slow or closed before the body ended)")
	}
	return b, nil
}

// readBody reads a request body that must hold JSON without a NUL, into
// dst's spare room if it has enough (dst may be nil).
func readBody(r *http.Request, dst []byte) ([]byte, error) {
	// Read the body once and unmarshal it: a json.Decoder would scan the
	// value twice, which shows on the hot paths.
	b, err := readRaw(r, dst)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, problem.New(problem.InvalidRequest, "the request needs a JSON body")
	}
	if hasNULEscape(b) {
		return nil, problem.New(problem.InvalidRequest, `text in the request may not contain the NUL character (\u0000)`)
	}
	if !utf8.Valid(b) {
		// encoding/json would replace the bad bytes silently.
		return nil, problem.New(problem.InvalidRequest, "the request body is not valid UTF-8")
	}
	return b, nil
}

// hasNULEscape reports whether a JSON text holds the escape \u0000, the
// only way a JSON string can carry a NUL character: an escape only if the
// backslash before the u is not itself escaped.
func hasNULEscape(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\u0000`))
		if i < 0 {
			return false
		}
		n := 1 // backslashes in the run that ends at b[i]
		for n <= i && b[i-n] == '\\' {
			n++
		}
		if n%2 == 1 {
			return true
		}
		b = b[i+6:]
	}
}

// appendAll is io.ReadAll appending to b (a lent buffer, or nil) that
// starts from the announced length, so that a body of a few kilobytes is
// read into one allocation instead of several, and into b's spare room
// when it has enough. The length is only a hint, trusted up to 16 KiB (a
// client announcing more and sending little must not make the server hold
// much memory; client requests are a few KiB); the body limit is enforced
// by the reader.
func appendAll(b []byte, r io.Reader, hint int64) ([]byte, error) {
	size := 512
	if hint > 0 && hint < 16<<10 {
		size = int(hint) + 1 // room to see io.EOF without growing
	}
	b = slices.Grow(b, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// decodeBytes decodes a JSON body into v. strict refuses unknown fields.
func decodeBytes(b []byte, v any, strict bool) error {
	if strict {
		if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
			return problem.New(problem.InvalidRequest, "the request body must be a JSON object (see /v1/openapi.json)")
		}
		if name, ok := duplicateMember(b); ok {
			return problem.Newf(problem.InvalidRequest, "the request body names the field %q twice", name)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return badJSON(err)
		}
		if dec.More() {
			return problem.New(problem.InvalidRequest, "the request body has data after the JSON object")
		}
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badJSON(err)
	}
	return nil
}

// duplicateMember reports a member name given twice in one object of the
// JSON text b (encoding/json would keep the last silently, and another
// reader of the same body the first). Invalid JSON reports nothing: the
// decoder says what is wrong with it.
func duplicateMember(b []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		names map[string]bool // nil in an array
		key   bool            // in an object: the next string token is a member name
	}
	var stack []frame
	for {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		top := len(stack) - 1
		switch v := t.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top >= 0 && stack[top].names != nil {
					stack[top].key = true // the object was a member's value
				}
				stack = append(stack, frame{names: map[string]bool{}, key: true})
				continue
			case '[':
				if top >= 0 && stack[top].names != nil {
					stack[top].key = true
				}
				stack = append(stack, frame{})
				continue
			default:
				stack = stack[:top]
				continue
			}
		case string:
			if top >= 0 && stack[top].names != nil && stack[top].key {
				// encoding/json matches names in any case.
				folded := strings.ToLower(v)
				if stack[top].names[folded] {
					return v, true
				}
				stack[top].names[folded] = true
				stack[top].key = false
				continue
			}
		}
		if top >= 0 && stack[top].names != nil {
			stack[top].key = true // a member's value
		}
	}
}

// badJSON says what is wrong with a request body in the API's terms: the
// field and the JSON type expected, never the server's Go types.
func badJSON(err error) error {
	const prefix = "the request body is not valid JSON for this endpoint: "
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return problem.Newf(problem.InvalidRequest, "%sfield %q: a JSON %s is not allowed here (see /v1/openapi.json)", prefix, te.Field, te.Value)
	case errors.As(err, &te):
		return problem.Newf(problem.InvalidRequest, "%sthe body must be a JSON object, not a JSON %s", prefix, te.Value)
	case errors.As(err, &se):
		return problem.Newf(problem.InvalidRequest, "%s%s (at byte %d)", prefix, se.Error(), se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problem.New(problem.InvalidRequest, prefix+"it ends too early")
	}
	// encoding/json's remaining messages name JSON, not Go: an unknown
	// field, or an invalid character.
	return problem.New(problem.InvalidRequest, prefix+strings.TrimPrefix(err.Error(), "json: "))
}

// reply writes v as JSON with status.
func reply(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding error", http.StatusInternalServerError)
		return
	}
	writeJSON(w, status, body)
}

// writeJSON writes a JSON body and a newline with status.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	writeJSONLine(w, status, append(body, '\n'))
}

// Header values every JSON answer carries, shared (never modified).
var (
	jsonType = []string{"application/json"}
	nosniff  = []string{"nosniff"}
)

// writeJSONLine writes body, JSON that already ends its line, with status:
// exactly the bytes a response signature covers.
func writeJSONLine(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonType
	h["X-Content-Type-Options"] = nosniff
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
