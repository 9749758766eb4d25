package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer serves the responses the generator's client must read, on a
// real loopback server, and counts the connections it accepted.
func rawServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Auth", r.Header.Get("Authorization"))
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			_, _ = io.WriteString(w, strings.Repeat(string(rune('a'+i)), 3000))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("GET /close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	})
	mux.HandleFunc("GET /hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</x>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /problem", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(w, `{"type":"about:blank","title":"in use","status":409,"code":"KEY_IN_USE_ELSEWHERE"}`)
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /stall", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestRawClientReadsResponses(t *testing.T) {
	srv, conns := rawServer(t)
	tg, err := newRawTarget(srv.URL, 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hdr := []byte("Content-Type: application/json\r\nAuthorization: Bearer tok\r\n")

	resp, err := tg.do(ctx, "POST", "/echo", hdr, []byte(`{"a":1}`), true)
	if err != nil || resp.status != 200 || string(resp.body) != `{"a":1}` || resp.ctype != "application/json" {
		t.Fatalf("echo: %+v %s, %v", resp, resp.body, err)
	}
	// Without keepBody a success's body is read but not kept.
	resp, err = tg.do(ctx, "POST", "/echo", hdr, []byte(`{"b":2}`), false)
	if err != nil || resp.status != 200 || resp.body != nil {
		t.Fatalf("echo, body not kept: %+v, %v", resp, err)
	}
	resp, err = tg.do(ctx, "GET", "/chunked", nil, nil, true)
	want := strings.Repeat("a", 3000) + strings.Repeat("b", 3000) + strings.Repeat("c", 3000)
	if err != nil || resp.status != 200 || string(resp.body) != want {
		t.Fatalf("chunked: status %d, %d bytes, %v", resp.status, len(resp.body), err)
	}
	resp, err = tg.do(ctx, "GET", "/hints", nil, nil, false)
	if err != nil || resp.status != 204 {
		t.Fatalf("103 then 204: %+v, %v", resp, err)
	}
	// An error's body is kept whatever keepBody says, for its code.
	resp, err = tg.do(ctx, "GET", "/problem", nil, nil, false)
	if err != nil || resp.status != 409 || !strings.Contains(string(resp.body), "KEY_IN_USE_ELSEWHERE") {
		t.Fatalf("problem: %+v %s, %v", resp, resp.body, err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for five requests in a row, want one kept alive", n)
	}
	// Connection: close is honoured: the next request dials again.
	if resp, err = tg.do(ctx, "GET", "/close", nil, nil, true); err != nil || string(resp.body) != "bye" {
		t.Fatalf("close: %+v, %v", resp, err)
	}
	if resp, err = tg.do(ctx, "GET", "/hints", nil, nil, false); err != nil || resp.status != 204 {
		t.Fatalf("after close: %+v, %v", resp, err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (a new one after Connection: close)", n)
	}
}

// Through sendRaw, the run sees "" for a success and the problem's code
// for an error, as before with net/http.
func TestSendRawCodes(t *testing.T) {
	srv, _ := rawServer(t)
	r, err := New(Config{Server: srv.URL + "/", Token: "tok", Scenario: ScenarioTrivial})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if code := r.send(ctx, "POST", "/echo", []byte(`{}`), nil); code != "" {
		t.Fatalf("echo: %q", code)
	}
	if code := r.send(ctx, "GET", "/problem", nil, nil); code != "KEY_IN_USE_ELSEWHERE" {
		t.Fatalf("problem: %q", code)
	}
	if code := r.send(ctx, "GET", "/missing", nil, nil); code == "" {
		t.Fatal("404 counted as a success")
	}
	// Redirects are not followed, nor counted as answers.
	if code := r.send(ctx, "GET", "/moved", nil, nil); code != codeRedirect {
		t.Fatalf("redirect: %q", code)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	r2, err := New(Config{Server: dead.URL, Scenario: ScenarioTrivial})
	if err != nil {
		t.Fatal(err)
	}
	if code := r2.send(ctx, "GET", "/x", nil, nil); code != "SERVER_UNREACHABLE" {
		t.Fatalf("closed server: %q", code)
	}
}

// A request cut short by the end of the run returns at once as canceled,
// and its connection is not reused.
func TestRawClientCancel(t *testing.T) {
	srv, conns := rawServer(t)
	tg, err := newRawTarget(srv.URL, 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var got error
	go func() {
		defer wg.Done()
		_, got = tg.do(ctx, "GET", "/stall", nil, nil, false)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	if !errors.Is(got, errRawCanceled) {
		t.Fatalf("canceled request: %v", got)
	}
	if len(tg.idle) != 0 {
		t.Fatal("a canceled request's connection went back to the pool")
	}
	if _, err := tg.do(context.Background(), "GET", "/hints", nil, nil, false); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestRawTargetRejectsBadServers(t *testing.T) {
	for _, s := range []string{"ftp://x", "http://", "http://u:p@host", "http://h/?q=1", "://"} {
		if _, err := newRawTarget(s, 1); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	tg, err := newRawTarget("https://example.com/echt", 1)
	if err != nil || tg.addr != "example.com:443" || tg.prefix != "/echt" || tg.tls == nil {
		t.Fatalf("https: %+v, %v", tg, err)
	}
	tg, err = newRawTarget("http://[::1]:8080", 1)
	if err != nil || tg.addr != "[::1]:8080" || tg.host != "[::1]:8080" {
		t.Fatalf("ipv6: %+v, %v", tg, err)
	}
}

// Responses the client must refuse rather than misread.
func TestRawResponseMalformed(t *testing.T) {
	for _, in := range []string{
		"",
		"HTTP/1.1 200 OK\r\n",     // no end of header
		"HTTP/2 200\r\n\r\n",      // not HTTP/1.x
		"HTTP/1.1 2x0 OK\r\n\r\n", // bad code
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",      // negative length
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",    // short body
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", // unknown coding
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", // nothing asked to switch
		strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", maxInterim+1) + "HTTP/1.1 204 No Content\r\n\r\n",
	} {
		if _, _, err := readRawResponse(bufio.NewReader(strings.NewReader(in)), "GET", true); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
	// HTTP/1.0 closes unless it says keep-alive; a body without a length
	// runs to the end of the connection.
	resp, keep, err := readRawResponse(bufio.NewReader(strings.NewReader("HTTP/1.0 200 OK\r\n\r\nhello")), "GET", true)
	if err != nil || keep || string(resp.body) != "hello" {
		t.Fatalf("1.0: %+v %v %v", resp, keep, err)
	}
	_, keep, err = readRawResponse(bufio.NewReader(strings.NewReader("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")), "GET", true)
	if err != nil || !keep {
		t.Fatalf("1.0 keep-alive: %v %v", keep, err)
	}
}

func FuzzRawResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("HTTP/1.1 409 Conflict\r\nContent-Type: application/problem+json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX: y\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		resp, _, err := readRawResponse(bufio.NewReader(strings.NewReader(string(in))), "GET", true)
		if err == nil && (resp.status < 200 || resp.status > 999) {
			t.Fatalf("status %d accepted", resp.status)
		}
		if len(resp.body) > maxRawBody {
			t.Fatalf("kept %d bytes", len(resp.body))
		}
	})
}
