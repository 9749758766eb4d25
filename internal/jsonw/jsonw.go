// Package jsonw appends JSON values to a byte slice exactly as
// encoding/json writes them, without reflection. The hot paths use it for
// the few small documents written on every request (verdicts and their
// responses); everything else uses encoding/json.
package jsonw

import (
	"encoding/json"
	"time"
)

// String appends s as a JSON string, escaped as encoding/json escapes it
// (including its HTML-safe escapes of <, > and &).
func String(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plain[s[i]] {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plain holds the bytes encoding/json writes as they are in a string:
// printable ASCII but for ", \ and the HTML-safe escapes of <, > and &.
var plain = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// Time appends t as encoding/json does (RFC 3339 with nanoseconds). ok is
// false for a time encoding/json refuses (a year outside 0–9999, a zone
// offset of 24 hours or more).
func Time(b []byte, t time.Time) (_ []byte, ok bool) {
	out, err := t.AppendText(append(b, '"'))
	if err != nil {
		return b, false
	}
	return append(out, '"'), true
}

// Key appends the start of a further object member: ,"name": (name needs
// no escaping).
func Key(b []byte, name string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// Strings appends a JSON array of strings; nil is null.
func Strings(b []byte, l []string) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = String(b, s)
	}
	return append(b, ']')
}

// Raw appends an already encoded value as is; empty is null, as
// encoding/json writes a nil json.RawMessage. It matches encoding/json
// only for compact JSON without <, > or & (which encoding/json would
// compact and escape).
func Raw(b []byte, v []byte) []byte {
	if len(v) == 0 {
		return append(b, "null"...)
	}
	return append(b, v...)
}
