// Package ident makes identifiers: sortable random ids for records and
// high-entropy secrets for tokens.
package ident

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

var enc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// New returns prefix + "_" + 26 characters: 48 bits of milliseconds since
// the epoch followed by 80 random bits, so ids sort by creation time.
func New(prefix string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return prefix + "_" + enc.EncodeToString(b[:])
}

// Random returns n random bytes encoded as lower-case base32.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return enc.EncodeToString(b)
}

// Valid reports whether s looks like an id made by New with this prefix.
func Valid(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != 26 {
		return false
	}
	_, err := enc.DecodeString(rest)
	return err == nil
}
