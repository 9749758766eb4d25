package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// The measured requests go through a small HTTP/1.1 client of the load
// generator's own: one request at a time on keep-alive connections, the
// request written in one piece and the response read with one buffered
// reader, no goroutines of its own. The generator shares the machine with
// the server it measures, and Go's http.Client spent about 40 µs of CPU
// per activation request here, twice what wrk spends; every microsecond
// it saves goes to the server. Calls that decode an answer (the product's
// salt, activating the devices validate revisits) still use net/http.
// It follows no redirects: a server that answers with one is not the
// server to measure (sendRaw counts UNEXPECTED_REDIRECT).

// rawTimeout bounds one request, as http.Client.Timeout did.
const rawTimeout = 30 * time.Second

// maxRawHeader bounds a response's header block and maxRawBody the body
// the generator keeps (bodies it only counts are read in pieces).
const (
	maxRawHeader = 64 << 10
	maxRawBody   = 1 << 20
)

// rawTarget is one server: where to dial and what to write in the
// request line's path and Host header.
type rawTarget struct {
	addr   string // host:port
	host   string // Host header
	prefix string // path the server URL ends with, without a trailing slash
	tls    *tls.Config
	idle   chan *rawConn
}

func newRawTarget(server string, idle int) (*rawTarget, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("bench: server %q: %w", server, err)
	}
	t := &rawTarget{host: u.Host, prefix: u.EscapedPath(), idle: make(chan *rawConn, idle)}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("bench: server %q: give an address such as http://127.0.0.1:8080", server)
	}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		t.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
	default:
		return nil, fmt.Errorf("bench: server %q: the scheme must be http or https", server)
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	return t, nil
}

// rawConn is one keep-alive connection.
type rawConn struct {
	nc   net.Conn
	br   *bufio.Reader
	buf  []byte    // the request being written
	idle time.Time // when it was last put back
}

// maxRawIdle is how long a connection may wait in the pool. Nothing reads
// an idle connection, so a server that closed it is noticed only by the
// next request; a connection idle for longer than this (between the runs
// of the baselines and the scenario, say) is closed rather than risked,
// well inside any server's keep-alive timeout.
const maxRawIdle = 2 * time.Second

func (t *rawTarget) get(ctx context.Context) (*rawConn, error) {
pool:
	for {
		select {
		case c := <-t.idle:
			if time.Since(c.idle) < maxRawIdle {
				return c, nil
			}
			c.nc.Close()
		default:
			break pool
		}
	}
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	if t.tls != nil {
		tc := tls.Client(nc, t.tls)
		nc.SetDeadline(time.Now().Add(rawTimeout)) // as http.Client.Timeout bounded it
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return &rawConn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}, nil
}

func (t *rawTarget) put(c *rawConn) {
	c.idle = time.Now()
	select {
	case t.idle <- c:
	default:
		c.nc.Close()
	}
}

// rawResponse is what the generator needs of a response: the status, the
// Content-Type, and the body only where it was asked for.
type rawResponse struct {
	status int
	ctype  string
	body   []byte
}

// errRawCanceled marks a request cut short by its context.
var errRawCanceled = errors.New("bench: request canceled")

// do sends one request and reads its response. keepBody keeps the body
// (up to maxRawBody) whatever the status; otherwise only an error
// response's body is kept.
func (t *rawTarget) do(ctx context.Context, method, path string, header, body []byte, keepBody bool) (rawResponse, error) {
	if err := ctx.Err(); err != nil {
		return rawResponse{}, errRawCanceled
	}
	c, err := t.get(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return rawResponse{}, errRawCanceled
		}
		return rawResponse{}, err
	}
	// The timeout first: a context that ends meanwhile runs the AfterFunc
	// at once, and its deadline in the past must be the one that stays.
	c.nc.SetDeadline(time.Now().Add(rawTimeout))
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	b := c.buf[:0]
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, t.prefix...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\n"...)
	b = append(b, header...)
	if body != nil {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	c.buf = b
	var resp rawResponse
	var keep bool
	if _, err = c.nc.Write(b); err == nil {
		resp, keep, err = readRawResponse(c.br, method, keepBody)
	}
	if !stop() {
		// The context ended and left a deadline in the past on this
		// connection: never reuse it. A response read in full still
		// counts.
		c.nc.Close()
		if err != nil {
			return rawResponse{}, errRawCanceled
		}
		return resp, nil
	}
	if err != nil && ctx.Err() != nil {
		err = errRawCanceled
	}
	if err != nil || !keep {
		c.nc.Close()
		return resp, err
	}
	t.put(c)
	return resp, nil
}

// maxInterim is how many interim (1xx) responses may precede the final
// one, as in net/http.
const maxInterim = 5

// readRawResponse reads one HTTP/1.1 response (skipping up to maxInterim
// interim 1xx ones). keep says whether the connection may carry another
// request.
func readRawResponse(br *bufio.Reader, method string, keepBody bool) (resp rawResponse, keep bool, err error) {
	for range maxInterim + 1 {
		resp, keep, err = readRawResponseOnce(br, method, keepBody)
		switch {
		case err != nil || resp.status >= 200:
			return resp, keep, err
		case resp.status == 101:
			// No request asks to switch protocols.
			return resp, false, errors.New("bench: unexpected 101 Switching Protocols")
		}
	}
	return resp, false, fmt.Errorf("bench: more than %d interim responses", maxInterim)
}

func readRawResponseOnce(br *bufio.Reader, method string, keepBody bool) (resp rawResponse, keep bool, err error) {
	line, err := rawLine(br)
	if err != nil {
		return resp, false, err
	}
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || (line[7] != '0' && line[7] != '1') || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return resp, false, fmt.Errorf("bench: malformed status line %q", truncate(line))
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 {
		return resp, false, fmt.Errorf("bench: malformed status line %q", truncate(line))
	}
	resp.status = code
	http10 := line[7] == '0'
	keep = !http10 // HTTP/1.1 keeps the connection unless told otherwise
	contentLength, chunked := int64(-1), false
	size := len(line)
	for {
		line, err := rawLine(br)
		if err != nil {
			return resp, false, err
		}
		if size += len(line); size > maxRawHeader {
			return resp, false, errors.New("bench: response header too large")
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return resp, false, fmt.Errorf("bench: malformed header line %q", truncate(line))
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (contentLength >= 0 && n != contentLength) {
				return resp, false, fmt.Errorf("bench: bad Content-Length %q", truncate(value))
			}
			contentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return resp, false, fmt.Errorf("bench: unsupported Transfer-Encoding %q", truncate(value))
			}
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			for _, tok := range bytes.Split(value, []byte(",")) {
				switch tok = bytes.TrimSpace(tok); {
				case bytes.EqualFold(tok, []byte("close")):
					keep = false
				case bytes.EqualFold(tok, []byte("keep-alive")) && http10:
					keep = true
				}
			}
		case bytes.EqualFold(name, []byte("Content-Type")):
			resp.ctype = string(value)
		}
	}
	if code < 200 {
		return resp, keep, nil
	}
	keepBody = keepBody || code >= 400
	var body []byte
	switch {
	case method == "HEAD" || code == 204 || code == 304:
	case chunked:
		body, err = readChunked(br, keepBody)
	case contentLength >= 0:
		body, err = readBody(io.LimitReader(br, contentLength), keepBody, contentLength)
	default:
		// Delimited by the end of the connection.
		keep = false
		body, err = readBody(br, keepBody, -1)
	}
	if err != nil {
		return resp, false, err
	}
	if keepBody {
		resp.body = body
	}
	return resp, keep, nil
}

// readBody reads r to its end (want bytes if known), keeping up to
// maxRawBody bytes when keep is set.
func readBody(r io.Reader, keep bool, want int64) ([]byte, error) {
	var kept []byte
	var scratch [4096]byte
	var n int64
	for {
		m, err := r.Read(scratch[:])
		n += int64(m)
		if keep && len(kept) < maxRawBody {
			kept = append(kept, scratch[:min(m, maxRawBody-len(kept))]...)
		}
		if err == io.EOF {
			if want >= 0 && n < want {
				return kept, io.ErrUnexpectedEOF
			}
			return kept, nil
		}
		if err != nil {
			return kept, err
		}
	}
}

// readChunked reads a chunked body and its trailer.
func readChunked(br *bufio.Reader, keep bool) ([]byte, error) {
	var kept []byte
	for {
		line, err := rawLine(br)
		if err != nil {
			return kept, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return kept, fmt.Errorf("bench: bad chunk size %q", truncate(line))
		}
		if size == 0 {
			for { // trailer
				line, err := rawLine(br)
				if err != nil {
					return kept, err
				}
				if len(line) == 0 {
					return kept, nil
				}
			}
		}
		part, err := readBody(io.LimitReader(br, size), keep && len(kept) < maxRawBody, size)
		if err != nil {
			return kept, err
		}
		kept = append(kept, part[:min(len(part), maxRawBody-len(kept))]...)
		if line, err := rawLine(br); err != nil || len(line) != 0 {
			return kept, errors.New("bench: chunk not followed by CRLF")
		}
	}
}

// rawLine reads a line without its CRLF (or LF). The slice is valid until
// the next read.
func rawLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errors.New("bench: response line too long")
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
