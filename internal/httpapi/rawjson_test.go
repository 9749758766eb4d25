package httpapi

import (
	"encoding/json"
	"testing"
)

func TestFields(t *testing.T) {
	in := []byte(` {"license": {"type":"license","payload":"a\"}b","cert":{"x":[1,{"y":"]"}]}}, "hardware":{"macs":["ab"]},"nonce":"n\\x","n":12.5e3,"t":true,"z":null} `)
	f, err := fields(in)
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
		if string(f[k]) != string(v) {
			t.Errorf("%s = %s, want %s", k, f[k], v)
		}
	}
	for _, bad := range []string{``, `[]`, `{"a":1,"a":2}`, `{"a":1} x`, `{"a":`, `{"a\"":1}`, `{"a":"x}`, `{"a" 1}`, `{"a":{"b":1}`, `{,}`} {
		if _, err := fields([]byte(bad)); err == nil {
			t.Errorf("fields(%q) succeeded", bad)
		}
	}
	if f, err := fields([]byte(`{}`)); err != nil || len(f) != 0 {
		t.Errorf("fields({}) = %v, %v", f, err)
	}
}

func FuzzFields(f *testing.F) {
	f.Add([]byte(`{"license":{"a":"}"},"nonce":"x"}`))
	f.Add([]byte(`{"a":[1,2,{"b":"\\"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := fields(b)
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
			if g, ok := got[k]; ok && string(g) != string(v) {
				t.Fatalf("%s = %s, encoding/json says %s", k, g, v)
			}
		}
	})
}
