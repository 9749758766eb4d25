package jsonw

import (
	"encoding/json"
	"testing"
	"time"
)

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "<a&b>", "tab\tnl\n", "é", "\u2028", "\xff\xfe", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := String(nil, s); string(got) != string(want) {
			t.Fatalf("String(%q) = %s, encoding/json writes %s", s, got, want)
		}
	})
}

// Every byte, alone and inside plain text, is written as encoding/json
// writes it.
func TestStringEveryByte(t *testing.T) {
	for c := range 256 {
		for _, s := range []string{string([]byte{byte(c)}), "ab" + string([]byte{byte(c)}) + "cd"} {
			want, _ := json.Marshal(s)
			if got := String([]byte("x"), s); string(got) != "x"+string(want) {
				t.Fatalf("String(%q) = %s, encoding/json writes %s", s, got, want)
			}
		}
	}
}

func TestTime(t *testing.T) {
	for _, tm := range []time.Time{{}, time.Date(2026, 11, 25, 19, 0, 0, 123456789, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), time.Date(9999, 12, 31, 23, 59, 59, 1000000, time.UTC)} {
		want, err := json.Marshal(tm)
		got, ok := Time(nil, tm)
		if err != nil || !ok || string(got) != string(want) {
			t.Errorf("Time(%v) = %s %v, encoding/json writes %s %v", tm, got, ok, want, err)
		}
	}
	for _, tm := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 25*3600))} {
		if _, err := json.Marshal(tm); err == nil {
			t.Fatalf("encoding/json writes %v", tm)
		}
		if _, ok := Time(nil, tm); ok {
			t.Errorf("Time(%v) ok, encoding/json refuses it", tm)
		}
	}
}

func TestStringsAndRaw(t *testing.T) {
	for _, l := range [][]string{nil, {}, {"a"}, {"a", "<b>"}} {
		want, _ := json.Marshal(l)
		if got := Strings(nil, l); string(got) != string(want) {
			t.Errorf("Strings(%q) = %s, want %s", l, got, want)
		}
	}
	for _, r := range []json.RawMessage{nil, json.RawMessage(`{"a":1}`)} {
		want, _ := json.Marshal(r)
		if got := Raw(nil, r); string(got) != string(want) {
			t.Errorf("Raw(%s) = %s, want %s", r, got, want)
		}
	}
}
