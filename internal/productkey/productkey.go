// Package productkey implements echt's 25-character product keys: encoding,
// forgiving parsing, the typo checksum a client verifies offline, and the
// keyed MAC only the server can make or check.
//
// Trust model: anyone can parse a key and check its checksum (that only
// catches typing errors). Only the holder of the server's key secret can
// issue a key or tell an authentic key from a forgery; the check costs one
// HMAC and no database access. The layout is documented in docs/keys.md.
package productkey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Alphabet is the 24-letter key alphabet (no vowels, no look-alikes).
const Alphabet = "BCDFGHJKMPQRTVWXY2346789"

const (
	// Version is the key format version this package issues.
	Version = 1
	// Len is the number of key characters, without dashes.
	Len = 25
	// payloadDigits carry the 105-bit payload; the rest is the checksum.
	payloadDigits = 23
	checkModulus  = 571 // prime, < 24*24
	versionBits   = 3
	groupBits     = 16
	serialBits    = 30
	macBits       = 56
	headerBits    = versionBits + groupBits + serialBits // 49
	// MaxGroup and MaxSerial bound the SKU group and serial fields.
	MaxGroup  = 1<<groupBits - 1
	MaxSerial = 1<<serialBits - 1
)

var digitOf [256]int8

func init() {
	for i := range digitOf {
		digitOf[i] = -1
	}
	for i := 0; i < len(Alphabet); i++ {
		digitOf[Alphabet[i]] = int8(i)
	}
}

// Key is a decoded product key.
type Key struct {
	Version uint8
	Group   uint16 // SKU group (0 is never issued)
	Serial  uint32 // serial within the group, < 2^30
	MAC     uint64 // 56-bit truncated HMAC-SHA256
}

// Errors returned by Parse. Both mean "probably mistyped" to a client; the
// server can tell a typo from a forgery (see Secret.Classify).
var (
	ErrLength   = errors.New("a product key has 25 characters")
	ErrChar     = errors.New("character not used in product keys")
	ErrChecksum = errors.New("product key checksum does not match")
	ErrVersion  = errors.New("unknown product key format version")
)

// SyntaxError says where a key failed to parse.
type SyntaxError struct {
	Pos  int  // 1-based position of the offending character, 0 if none
	Char rune // the offending character, if any
	Err  error
}

func (e *SyntaxError) Error() string {
	if e.Pos > 0 && e.Char != 0 {
		return fmt.Sprintf("character %d (%q): %v", e.Pos, e.Char, e.Err)
	}
	return e.Err.Error()
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// Normalize upper-cases s and drops what people and word processors put
// between a key's groups: spaces and dashes of any kind (Unicode's
// separators and dash punctuation, the minus sign, underscores, dots,
// slashes, soft hyphens and zero-width characters). Full-width forms (typed with an East
// Asian input method) count as their ASCII letters, digits and dashes.
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(Len)
	for _, r := range s {
		if r >= '\uff01' && r <= '\uff5e' {
			r -= 0xfee0 // full-width ASCII
		}
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteByte(byte(r - 'a' + 'A'))
		case r < utf8.RuneSelf && r != '-' && r != '_' && r != '.' && r != '/' && !unicode.IsSpace(r):
			b.WriteByte(byte(r))
		case separator(r):
			continue
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// separator reports whether r may stand between a key's groups.
func separator(r rune) bool {
	switch r {
	case '_', '.', '/', '\u2212', '\u00ad', '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
		return true
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) || unicode.Is(unicode.Pd, r)
}

// Parse decodes a key typed by a person: case, spaces and dashes do not
// matter. It checks the alphabet, length and checksum, not authenticity.
func Parse(s string) (Key, error) {
	n := Normalize(s)
	var d [Len]int8
	i := 0
	for _, r := range n {
		if i >= Len {
			return Key{}, &SyntaxError{Err: ErrLength}
		}
		if r >= 256 || digitOf[r] < 0 {
			return Key{}, &SyntaxError{Pos: i + 1, Char: r, Err: ErrChar}
		}
		d[i] = digitOf[r]
		i++
	}
	if i != Len {
		return Key{}, &SyntaxError{Err: ErrLength}
	}
	return fromDigits(d)
}

func checksum(d *[Len]int8) int {
	sum := 0
	for i := 0; i < payloadDigits; i++ {
		sum += (i + 1) * int(d[i])
	}
	return sum % checkModulus
}

func fromDigits(d [Len]int8) (Key, error) {
	check := int(d[payloadDigits])*24 + int(d[payloadDigits+1])
	if check != checksum(&d) {
		return Key{}, &SyntaxError{Err: ErrChecksum}
	}
	var hi, lo uint64
	for i := 0; i < payloadDigits; i++ {
		// (hi,lo) = (hi,lo)*24 + d
		h1, l1 := bits.Mul64(lo, 24)
		hi = hi*24 + h1
		var c uint64
		lo, c = bits.Add64(l1, uint64(d[i]), 0)
		hi += c
	}
	if hi>>(105-64) != 0 {
		return Key{}, &SyntaxError{Err: ErrChecksum}
	}
	mac := lo & (1<<macBits - 1)
	header := (hi<<(64-macBits) | lo>>macBits) ^ whiten(mac)
	k := Key{
		Version: uint8(header >> (groupBits + serialBits)),
		Group:   uint16(header >> serialBits),
		Serial:  uint32(header & (1<<serialBits - 1)),
		MAC:     mac,
	}
	if k.Version != Version {
		return Key{}, &SyntaxError{Err: ErrVersion}
	}
	return k, nil
}

// whiten derives a 49-bit mask from the MAC so that keys of one SKU do not
// share a visible prefix. It is public and keyless: it hides nothing, it
// only spreads the header over all characters.
func whiten(mac uint64) uint64 {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], mac)
	h := sha256.Sum256(append([]byte("echt-key-whiten/1"), b[:]...))
	return binary.BigEndian.Uint64(h[:8]) >> (64 - headerBits)
}

func (k Key) digits() [Len]int8 {
	header := uint64(k.Version)<<(groupBits+serialBits) | uint64(k.Group)<<serialBits | uint64(k.Serial&(1<<serialBits-1))
	header ^= whiten(k.MAC)
	mac := k.MAC & (1<<macBits - 1)
	hi := header >> (64 - macBits)
	lo := header<<macBits | mac
	var d [Len]int8
	for i := payloadDigits - 1; i >= 0; i-- {
		// (hi,lo) /= 24, remainder into d[i]
		var r uint64
		hi, r = bits.Div64(0, hi, 24)
		lo, r = bits.Div64(r, lo, 24)
		d[i] = int8(r)
	}
	c := checksum(&d)
	d[payloadDigits] = int8(c / 24)
	d[payloadDigits+1] = int8(c % 24)
	return d
}

// String returns the canonical form XXXXX-XXXXX-XXXXX-XXXXX-XXXXX.
func (k Key) String() string {
	d := k.digits()
	var b [Len + 4]byte
	j := 0
	for i := 0; i < Len; i++ {
		if i > 0 && i%5 == 0 {
			b[j] = '-'
			j++
		}
		b[j] = Alphabet[d[i]]
		j++
	}
	return string(b[:])
}

// LastGroup returns the key's last five characters.
func (k Key) LastGroup() string { s := k.String(); return s[len(s)-5:] }

// Partial returns the display form that hides all but the last group.
func Partial(lastGroup string) string { return "XXXXX-XXXXX-XXXXX-XXXXX-" + lastGroup }

// Valid reports whether s parses (syntax and checksum only).
func Valid(s string) bool { _, err := Parse(s); return err == nil }

// OneTypoAway reports whether s could be a key with one typing error: one
// character too many or too few at most, and at most one character that
// no key has. Without the server it tells a typo from text that is no key
// at all.
func OneTypoAway(s string) bool {
	n := []rune(Normalize(s))
	if len(n) < Len-1 || len(n) > Len+1 {
		return false
	}
	foreign := 0
	for _, r := range n {
		if !strings.ContainsRune(Alphabet, r) {
			foreign++
		}
	}
	return foreign <= 1
}

// SecretSize is the size of the key secret.
const SecretSize = 32

// Secret is the server-only key secret. It derives two independent keys:
// one MACs keys, the other makes the keyed hash under which keys are stored.
// Its fields are unexported; it never prints its value.
type Secret struct {
	mac  []byte
	hash []byte
}

// NewSecret derives the key secret from 32 bytes of key material.
func NewSecret(material []byte) (*Secret, error) {
	if len(material) != SecretSize {
		return nil, fmt.Errorf("product key secret: need %d bytes, got %d", SecretSize, len(material))
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, material)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return &Secret{mac: derive("echt-key-mac/1"), hash: derive("echt-key-hash/1")}, nil
}

// String hides the secret in logs and %v output.
func (s *Secret) String() string { return "productkey.Secret(redacted)" }

// GoString hides the secret in %#v output.
func (s *Secret) GoString() string { return s.String() }

func (s *Secret) mac56(version uint8, group uint16, serial uint32) uint64 {
	var msg [len("echt-key/1") + 7]byte
	n := copy(msg[:], "echt-key/1")
	msg[n] = version
	binary.BigEndian.PutUint16(msg[n+1:], group)
	binary.BigEndian.PutUint32(msg[n+3:], serial)
	m := hmac.New(sha256.New, s.mac)
	m.Write(msg[:])
	var sum [32]byte
	return binary.BigEndian.Uint64(m.Sum(sum[:0])[:8]) >> (64 - macBits)
}

// Issue makes the key with this group and serial.
func (s *Secret) Issue(group uint16, serial uint32) (Key, error) {
	if group == 0 {
		return Key{}, errors.New("issue key: group 0 is reserved")
	}
	if serial > MaxSerial {
		return Key{}, fmt.Errorf("issue key: serial %d exceeds %d", serial, MaxSerial)
	}
	return Key{Version: Version, Group: group, Serial: serial, MAC: s.mac56(Version, group, serial)}, nil
}

// Authentic reports whether k's MAC was made with this secret. It runs in
// constant time with respect to the MAC.
func (s *Secret) Authentic(k Key) bool {
	want := s.mac56(k.Version, k.Group, k.Serial)
	var a, b [8]byte
	binary.BigEndian.PutUint64(a[:], want)
	binary.BigEndian.PutUint64(b[:], k.MAC)
	return hmac.Equal(a[:], b[:]) && k.Group != 0
}

// HashSize is the size of a stored key hash.
const HashSize = 32

// Hash returns the keyed hash under which the store keeps k.
func (s *Secret) Hash(k Key) []byte {
	m := hmac.New(sha256.New, s.hash)
	m.Write([]byte(k.String()))
	return m.Sum(nil)
}

// Verdict is the outcome of Classify.
type Verdict int

const (
	// Authentic: the key parses and its MAC is ours.
	Authentic Verdict = iota
	// Typo: the input is one edit (a substitution, an adjacent swap, a
	// missing or extra character) away from an authentic key.
	Typo
	// Forged: neither authentic nor a likely typo.
	Forged
)

// Classify tells an authentic key from a typo of one and from a forgery. A
// typo is an input one edit away from an authentic key; the corrected key is
// never revealed. Cost: one HMAC for a well-formed key, a few hundred
// checksum tests (and on average about one HMAC) otherwise.
func (s *Secret) Classify(raw string) (Key, Verdict) {
	k, err := Parse(raw)
	if err == nil {
		if s.Authentic(k) {
			return k, Authentic
		}
		return Key{}, Forged
	}
	n := []rune(Normalize(raw))
	if len(n) < Len-1 || len(n) > Len+1 {
		return Key{}, Forged
	}
	if s.nearAuthentic(n) {
		return Key{}, Typo
	}
	return Key{}, Forged
}

// nearAuthentic searches the one-edit neighbourhood of n for an authentic key.
func (s *Secret) nearAuthentic(n []rune) bool {
	try := func(cand []int8) bool {
		if len(cand) != Len {
			return false
		}
		var d [Len]int8
		copy(d[:], cand)
		k, err := fromDigits(d)
		return err == nil && s.Authentic(k)
	}
	// digits, with -1 for characters outside the alphabet
	ds := make([]int8, len(n))
	bad := 0
	for i, r := range n {
		if r < 256 && digitOf[r] >= 0 {
			ds[i] = digitOf[r]
		} else {
			ds[i] = -1
			bad++
		}
	}
	if bad > 1 {
		return false
	}
	cand := make([]int8, Len)
	switch len(ds) {
	case Len:
		// substitutions
		for i := range ds {
			if bad == 1 && ds[i] != -1 {
				continue
			}
			copy(cand, ds)
			for v := int8(0); v < 24; v++ {
				if v == ds[i] {
					continue
				}
				cand[i] = v
				if try(cand) {
					return true
				}
			}
		}
		// adjacent transpositions
		if bad == 0 {
			for i := 0; i+1 < Len; i++ {
				if ds[i] == ds[i+1] {
					continue
				}
				copy(cand, ds)
				cand[i], cand[i+1] = cand[i+1], cand[i]
				if try(cand) {
					return true
				}
			}
		}
	case Len - 1:
		if bad > 0 {
			return false
		}
		// one character missing: insert each digit at each position
		for i := 0; i <= len(ds); i++ {
			copy(cand, ds[:i])
			copy(cand[i+1:], ds[i:])
			for v := int8(0); v < 24; v++ {
				cand[i] = v
				if try(cand) {
					return true
				}
			}
		}
	case Len + 1:
		// one character too many: drop each
		for i := range ds {
			if bad == 1 && ds[i] != -1 {
				continue
			}
			copy(cand, ds[:i])
			copy(cand[i:], ds[i+1:])
			if hasBad(cand) {
				continue
			}
			if try(cand) {
				return true
			}
		}
	}
	return false
}

func hasBad(d []int8) bool {
	for _, v := range d {
		if v < 0 {
			return true
		}
	}
	return false
}
