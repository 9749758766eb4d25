// Package ident makes identifiers: sortable random ids for records and
// high-entropy secrets for tokens; and it checks the names publishers give
// products and SKUs.
package ident

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"regexp"
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

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// WellFormed reports whether s has the form of a product or SKU id: 1 to
// 63 of lower-case letters, digits, '.', '_' and '-', starting with a
// letter or digit. Clients accept every such id (ValidName is for new
// ones): a product made before ValidName's further rules stays usable.
func WellFormed(s string) bool { return namePattern.MatchString(s) }

// ValidName reports whether s is a valid id for a new product or SKU: well
// formed, not ending with '.', and not a name Windows keeps for a device
// (con, prn, aux, nul, com0-com9, lpt0-lpt9, with or without an
// extension). A product id names a directory of the device's license
// store, on every system.
func ValidName(s string) bool {
	if !WellFormed(s) || strings.HasSuffix(s, ".") {
		return false
	}
	base, _, _ := strings.Cut(s, ".")
	switch base {
	case "con", "prn", "aux", "nul":
		return false
	}
	if len(base) == 4 && (strings.HasPrefix(base, "com") || strings.HasPrefix(base, "lpt")) && base[3] >= '0' && base[3] <= '9' {
		return false
	}
	return true
}
