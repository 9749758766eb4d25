package problem

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWriteAndDecode(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, New(KeyBlocked, "blocked: counterfeit").With("block_reason", "counterfeit"), "req-1")
	if rec.Code != http.StatusForbidden || rec.Header().Get("Content-Type") != ContentType {
		t.Fatalf("Write: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	got := Decode(rec.Result())
	if !errors.Is(got, ErrKeyBlocked) || got.Detail != "blocked: counterfeit" || got.Extra["block_reason"] != "counterfeit" || got.Extra["request_id"] != "req-1" {
		t.Fatalf("Decode = %+v", got)
	}
	body := rec.Body.String()
	for _, want := range []string{`"type":"/help/errors/KEY_BLOCKED"`, `"status":403`, `"code":"KEY_BLOCKED"`, `"title":"The product key is blocked"`} {
		if !strings.Contains(body, want) {
			t.Errorf("body %s lacks %s", body, want)
		}
	}
}

func TestInternalErrorsRevealNothing(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, errors.New("pq: password authentication failed for user secret"), "req-2")
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("internal error leaked: %d %s", rec.Code, rec.Body)
	}
}

func TestRetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, &Error{Code: StoreUnavailable, RetryAfter: 1500 * time.Millisecond}, "")
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("Retry-After = %q (status %d)", rec.Header().Get("Retry-After"), rec.Code)
	}
	rec = httptest.NewRecorder()
	Write(rec, New(RateLimited, "slow down"), "")
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

func TestEveryCodeHasStatusAndUniqueExit(t *testing.T) {
	exits := map[int]Code{}
	for _, i := range Codes() {
		if i.Status < 200 || i.Status > 599 || i.Title == "" {
			t.Errorf("%s: status %d title %q", i.Code, i.Status, i.Title)
		}
		if i.Exit == 0 {
			continue
		}
		if other, dup := exits[i.Exit]; dup {
			t.Errorf("exit code %d used by %s and %s", i.Exit, i.Code, other)
		}
		if i.Exit == 1 || i.Exit == 2 || i.Exit > 125 {
			t.Errorf("%s: exit code %d is reserved or out of range", i.Code, i.Exit)
		}
		exits[i.Exit] = i.Code
	}
}

// FuzzDecodeBytes: problem responses read by the SDK never panic and
// always yield a code.
func FuzzDecodeBytes(f *testing.F) {
	f.Add(403, "application/problem+json", "", []byte(`{"type":"/help/errors/KEY_BLOCKED","status":403,"code":"KEY_BLOCKED","detail":"x"}`))
	f.Add(503, "text/html", "5", []byte(`<html>bad gateway</html>`))
	f.Add(429, "application/json", "-1", []byte(`{"code":123}`))
	f.Add(500, "application/problem+json; charset=utf-8", "99999999999", []byte(`{"code":"`+strings.Repeat("A", 100)+`"}`))
	f.Fuzz(func(t *testing.T, status int, ct, retry string, body []byte) {
		e := DecodeBytes(status, ct, retry, body)
		if e == nil || e.Code == "" || len(e.Code) > 64 {
			t.Fatalf("DecodeBytes = %+v", e)
		}
		if e.RetryAfter < 0 || e.RetryAfter > 24*time.Hour {
			t.Fatalf("RetryAfter = %v", e.RetryAfter)
		}
	})
}

// An error answer that is not problem+json is named as not an echt
// server's; echt's own, with or without parameters, is not.
func TestForeign(t *testing.T) {
	for _, tc := range []struct {
		ct      string
		foreign bool
		detail  string
	}{
		{"application/problem+json", false, ""},
		{"application/problem+json; charset=utf-8", false, ""},
		{"text/html;charset=utf-8", true, "answered with HTTP 501 (text/html;charset=utf-8), not as an echt server does"},
		{"application/json", true, "answered with HTTP 501 (application/json), not as an echt server does"},
		{"", true, "answered with HTTP 501 (no content type), not as an echt server does"},
	} {
		if foreign, detail := Foreign(501, tc.ct); foreign != tc.foreign || detail != tc.detail {
			t.Errorf("Foreign(501, %q) = %v, %q; want %v, %q", tc.ct, foreign, detail, tc.foreign, tc.detail)
		}
	}
}
