package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/problem"
)

func TestFields(t *testing.T) {
	in := []byte(` {"license": {"type":"license","payload":"a\"}b","cert":{"x":[1,{"y":"]"}]}}, "hardware":{"macs":["ab"]},"nonce":"n\\x","n":12.5e3,"t":true,"z":null} `)
	f, err := fields(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]json.RawMessage
	if err := json.Unmarshal(in, &want); err != nil {
		t.Fatal(err)
	}
	if len(f) != len(want) {
		t.Fatalf("fields = %d members, want %d", len(f), len(want))
	}
	for k, v := range want {
		if got, _ := f.get(k); string(got) != string(v) {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	if f[0].name == nil || string(f[0].name) != "license" || string(f[len(f)-1].name) != "z" {
		t.Errorf("fields = %q ... %q; want the members in the order written", f[0].name, f[len(f)-1].name)
	}
	for _, bad := range []string{``, `[]`, `{"a":1,"a":2}`, `{"a":1} x`, `{"a":`, `{"a\"":1}`, `{"a":"x}`, `{"a" 1}`, `{"a":{"b":1}`, `{,}`} {
		if _, err := fields([]byte(bad), nil); err == nil {
			t.Errorf("fields(%q) succeeded", bad)
		}
	}
	if f, err := fields([]byte(`{}`), nil); err != nil || len(f) != 0 {
		t.Errorf("fields({}) = %v, %v", f, err)
	}
	// More members than a request of ours has are left to encoding/json,
	// which finds duplicates among many in linear time.
	object := func(n int) []byte {
		b := []byte("{")
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, `"m%d":%d`, i, i)
		}
		return append(b, '}')
	}
	if f, err := fields(object(maxFields), nil); err != nil || len(f) != maxFields {
		t.Errorf("fields of %d members = %d, %v", maxFields, len(f), err)
	}
	if _, err := fields(object(maxFields+1), nil); err == nil {
		t.Errorf("fields of %d members succeeded; want errRawJSON", maxFields+1)
	}
}

func FuzzFields(f *testing.F) {
	f.Add([]byte(`{"license":{"a":"}"},"nonce":"x"}`))
	f.Add([]byte(`{"a":[1,2,{"b":"\\"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := fields(b, nil)
		if err != nil {
			return
		}
		// Whatever fields accepts, a member that is valid JSON is the
		// same member encoding/json sees.
		var want map[string]json.RawMessage
		if json.Unmarshal(b, &want) != nil {
			return
		}
		for k, v := range want {
			if g, ok := got.get(k); ok && string(g) != string(v) {
				t.Fatalf("%s = %s, encoding/json says %s", k, g, v)
			}
		}
	})
}

// sameAsJSON checks a fast request reader against encoding/json: whenever
// encoding/json reads body into a T, decode reads the same T from it.
func sameAsJSON[T any](t *testing.T, name, path string, decode func(*http.Request) (T, error), body []byte) {
	var want T
	if json.Unmarshal(body, &want) != nil {
		return
	}
	got, err := decode(httptest.NewRequest("POST", path, bytes.NewReader(body)))
	if hasNULEscape(body) || !utf8.Valid(body) {
		// Refused on purpose (TestNULIsRefused, TestInvalidUTF8AndNosniff),
		// whatever encoding/json says.
		if problem.CodeOf(err) != problem.InvalidRequest {
			t.Fatalf("%s(%q) = %v; want INVALID_REQUEST for the NUL or the invalid UTF-8", name, body, err)
		}
		return
	}
	if err != nil {
		if len(bytes.TrimSpace(body)) == 0 {
			return
		}
		t.Fatalf("%s(%q): %v; encoding/json reads it", name, body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s(%q) = %+v, encoding/json says %+v", name, body, got, want)
	}
}

// FuzzDecodeValidate holds the validation endpoint's fast decoding to
// encoding/json's result.
func FuzzDecodeValidate(f *testing.F) {
	f.Add([]byte(`{"license":{"payload":"x\\"y","sig":"z"},"hardware":{"system_uuid":"ab","disks":["cd","ef"],"macs":[]},"nonce":"n1","lang":"nl"}`))
	f.Add([]byte(`{"license":{},"hardware":{"System_UUID":"ab"},"nonce":"n"}`))
	f.Add([]byte(`{"license":{},"hardware":{"disks":null,"cpu":"\u0041"},"nonce":"\u00e9","extra":1}`))
	f.Add([]byte(`{"license":{"a":"\\\\"},"hardware":{"macs":[ "a" , "b" ]},"nonce":"n"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// The body is read into a lent buffer that held an earlier request.
		lent := func(r *http.Request) (api.ValidateRequest, error) {
			buf := append(make([]byte, 0, 64), `{"license":{"stale":"bytes of an earlier request"}}`...)[:0]
			return decodeValidate(r, &buf)
		}
		sameAsJSON(t, "decodeValidate", "/v1/validations", lent, b)
	})
}

// FuzzDecodeActivate holds the activation endpoint's fast decoding to
// encoding/json's result.
func FuzzDecodeActivate(f *testing.F) {
	f.Add([]byte(`{"key":"BCDFG-HJKMP-QRTVW-XY234-6789B","hardware":{"system_uuid":"ab","disks":["cd"]},"nonce":"n1"}`))
	f.Add([]byte(`{"product":"p","hardware":{"macs":[]},"nonce":"n","Key":"x"}`))
	f.Add([]byte(`{"key":"\u0041","hardware":null,"nonce":"n"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsJSON(t, "decodeActivate", "/v1/activations", decodeActivate, b)
	})
}

func TestPlainStrings(t *testing.T) {
	for in, want := range map[string][]string{`[]`: {}, `[ ]`: {}, `["a"]`: {"a"}, `[ "a" ,"b" ]`: {"a", "b"}} {
		if got, ok := plainStrings([]byte(in)); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("plainStrings(%s) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{``, `[`, `["a",]`, `["a" "b"]`, `[1]`, `["\n"]`, `["a\"b"]`, `["é"]`, `[null]`, `{"a"}`} {
		if got, ok := plainStrings([]byte(in)); ok {
			t.Errorf("plainStrings(%s) = %q, accepted", in, got)
		}
	}
}

func TestAppendAll(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 300)
	for _, hint := range []int64{-1, 0, 1, 511, 512, int64(len(body)), int64(len(body)) + 1, 1 << 30} {
		got, err := appendAll(nil, iotest.OneByteReader(bytes.NewReader(body)), hint)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("appendAll(hint %d) = %d bytes, %v; want %d bytes", hint, len(got), err, len(body))
		}
	}
	if _, err := appendAll(nil, iotest.ErrReader(io.ErrUnexpectedEOF), 10); err != io.ErrUnexpectedEOF {
		t.Errorf("appendAll of a failing reader: %v", err)
	}
}
