// Package hardware describes a device by its hardware components, hashes
// them on the device, and decides whether two profiles are the same device.
//
// Privacy model: raw component values (serial numbers, MAC addresses) never
// leave the device. Each value is normalised and hashed with the product's
// public salt, so the server sees only salted hashes, and hashes of one
// product cannot be joined with those of another.
//
// Matching is a weighted vote (see docs/hardware.md): the system board
// decides identity (a new board is a new device); the other components may
// change up to the policy's tolerance.
package hardware

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/echt-dev/echt/internal/jsonw"
)

// Raw is a device's component values as collected (or read from a
// --hardware file). Every field is optional: missing components are normal
// in VMs, containers and without administrator rights.
type Raw struct {
	SystemUUID  string   `json:"system_uuid,omitempty"`
	BoardSerial string   `json:"board_serial,omitempty"`
	Disks       []string `json:"disks,omitempty"`
	MACs        []string `json:"macs,omitempty"`
	CPU         string   `json:"cpu,omitempty"`
	MemoryGB    float64  `json:"memory_gb,omitempty"`
	OSInstallID string   `json:"os_install_id,omitempty"`
}

// RawFields are the JSON names of Raw's fields, exactly as written in a
// hardware file.
var RawFields = []string{"system_uuid", "board_serial", "disks", "macs", "cpu", "memory_gb", "os_install_id"}

// Component kinds, as named in profiles and docs.
const (
	KindSystemUUID  = "system_uuid"
	KindBoardSerial = "board_serial"
	KindDisk        = "disks"
	KindMAC         = "macs"
	KindCPU         = "cpu"
	KindMemory      = "memory"
	KindOSInstall   = "os_install_id"
)

// Limits on multi-valued components.
const (
	MaxDisks = 8
	MaxMACs  = 8
	// HashLen is the length of a component hash in hex characters (128 bits).
	HashLen = 32
)

// Profile is a hashed hardware profile: what a client sends and a license
// records. Values are lower-case hex of 16-byte salted hashes.
type Profile struct {
	SystemUUID  string   `json:"system_uuid,omitempty"`
	BoardSerial string   `json:"board_serial,omitempty"`
	Disks       []string `json:"disks,omitempty"`
	MACs        []string `json:"macs,omitempty"`
	CPU         string   `json:"cpu,omitempty"`
	Memory      string   `json:"memory,omitempty"`
	OSInstallID string   `json:"os_install_id,omitempty"`
}

// AppendJSON appends p as encoding/json writes it, without reflection:
// the server digests the profile of every validation request.
func (p Profile) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	member := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
	}
	str := func(name, v string) {
		if v != "" {
			member(name)
			b = jsonw.String(b, v)
		}
	}
	list := func(name string, l []string) {
		if len(l) > 0 {
			member(name)
			b = jsonw.Strings(b, l)
		}
	}
	str("system_uuid", p.SystemUUID)
	str("board_serial", p.BoardSerial)
	list("disks", p.Disks)
	list("macs", p.MACs)
	str("cpu", p.CPU)
	str("memory", p.Memory)
	str("os_install_id", p.OSInstallID)
	return append(b, '}')
}

// junk values firmware ships instead of real identifiers.
var junk = map[string]bool{
	"": true, "0": true, "none": true, "null": true, "n/a": true, "na": true, "unknown": true, "default string": true,
	"to be filled by o.e.m.": true, "to be filled by oem": true, "system serial number": true, "not specified": true,
	"not applicable": true, "base board serial number": true, "0123456789": true, "123456789": true, "oem": true, "xxxxxxxxxx": true,
	"03000200-0400-0500-0006-000700080009": true, "00000000-0000-0000-0000-000000000000": true, "ffffffff-ffff-ffff-ffff-ffffffffffff": true,
	"00020003-0004-0005-0006-000700080009": true,
}

func normText(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	if junk[s] || strings.Trim(s, "0-. ") == "" || strings.Trim(s, "f-") == "" {
		return ""
	}
	return s
}

func normUUID(s string) string {
	s = strings.ToLower(strings.TrimSpace(strings.Trim(s, "{}")))
	if junk[s] {
		return ""
	}
	return normText(s)
}

// NormMAC returns a MAC address as aa:bb:cc:dd:ee:ff, or "" when it is not
// a usable hardware address (all zero, broadcast, or malformed).
func NormMAC(s string) string {
	h, ok := macHex(s)
	if !ok || h == "000000000000" || h == "ffffffffffff" {
		return ""
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// macHex returns s, written as a network card address (six bytes of hex,
// with or without separators), as 12 lower-case hex digits; ok is false
// for anything else. Junk addresses (all zeros) are addresses here.
func macHex(s string) (h string, ok bool) {
	h = strings.NewReplacer("-", "", ":", "", ".", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	if len(h) != 12 {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	return h, true
}

// MemoryBucket rounds a memory size to the nearest power of two GB, so
// that reported sizes that differ by firmware reservations agree.
func MemoryBucket(gb float64) string {
	if gb <= 0 || gb != gb {
		return ""
	}
	if gb < 1 {
		return "1"
	}
	n := uint64(gb + 0.5)
	lo := uint64(1) << (63 - bits.LeadingZeros64(n))
	hi := lo << 1
	if float64(hi)-gb <= gb-float64(lo) {
		return strconv.FormatUint(hi, 10)
	}
	return strconv.FormatUint(lo, 10)
}

func hashValue(salt []byte, kind, value string) string {
	h := sha256.New()
	h.Write([]byte("echt-hw/1\x00"))
	h.Write(salt)
	h.Write([]byte{0})
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return hex.EncodeToString(h.Sum(nil)[:HashLen/2])
}

func hashList(salt []byte, kind string, values []string, norm func(string) string, limit int) []string {
	var out []string
	for _, v := range values {
		if n := norm(v); n != "" {
			out = append(out, hashValue(salt, kind, n))
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Hash normalises and hashes raw values with the product's salt. The same
// raw values always give the same profile; values that are firmware junk
// are dropped.
func (r Raw) Hash(salt []byte) Profile {
	var p Profile
	if v := normUUID(r.SystemUUID); v != "" {
		p.SystemUUID = hashValue(salt, KindSystemUUID, v)
	}
	if v := normText(r.BoardSerial); v != "" {
		p.BoardSerial = hashValue(salt, KindBoardSerial, v)
	}
	p.Disks = hashList(salt, KindDisk, r.Disks, normText, MaxDisks)
	p.MACs = hashList(salt, KindMAC, r.MACs, NormMAC, MaxMACs)
	if v := normText(r.CPU); v != "" {
		p.CPU = hashValue(salt, KindCPU, v)
	}
	if v := MemoryBucket(r.MemoryGB); v != "" {
		p.Memory = hashValue(salt, KindMemory, v)
	}
	if v := normUUID(r.OSInstallID); v != "" {
		p.OSInstallID = hashValue(salt, KindOSInstall, v)
	}
	return p
}

// CheckFile checks raw values read from a hardware file (echt hwid
// --hardware) for what collection never produces: a memory size that is
// not a plausible number of GB, and network addresses that are not MACs.
// It names the field, so a person can fix the file.
func (r Raw) CheckFile() error {
	if r.MemoryGB < 0 || r.MemoryGB > 1<<20 || math.IsNaN(r.MemoryGB) {
		return fmt.Errorf("memory_gb: %v is not a memory size in GB (0 to %d)", r.MemoryGB, 1<<20)
	}
	macs := map[string]bool{}
	for _, m := range r.MACs {
		if _, ok := macHex(m); !ok {
			return fmt.Errorf("macs: %q is not a network card address such as b4:2e:99:3a:10:7c", m)
		}
		if n := NormMAC(m); n != "" { // all zeros or all ones: firmware junk, dropped
			macs[n] = true
		}
	}
	disks := map[string]bool{}
	for _, d := range r.Disks {
		if n := normText(d); n != "" {
			disks[n] = true
		}
	}
	if len(disks) > MaxDisks || len(macs) > MaxMACs {
		return fmt.Errorf("at most %d different disks and %d different network cards", MaxDisks, MaxMACs)
	}
	return nil
}

// WhyText says in words why two profiles are not the same device (Why).
func WhyText(why string) string {
	switch why {
	case "board_changed":
		return "the system board changed"
	case "too_many_changes":
		return "too many components changed at once"
	case "too_little_in_common":
		return "too little hardware in common"
	}
	return why
}

// ErrNoIdentity means a profile holds too little to be recognised again:
// it would not match itself (Match), because no identifying component
// could be read or what could be read weighs less than MinMatch.
var ErrNoIdentity = errors.New("too little hardware could be read to recognise this device again: it needs a system UUID or a network card, or another identifying component (board serial, disk, OS install id) together with more (see docs/hardware.md)")

func validHash(s string) bool {
	if len(s) != HashLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Validate checks a profile received from a client: well-formed hashes,
// bounded lists, and enough to be recognised again: the profile must match
// itself (at least one identifying component and MinMatch weight), or the
// device could spend a seat on a license that it can never match.
func (p Profile) Validate() error {
	for _, f := range [...]struct{ kind, v string }{{KindSystemUUID, p.SystemUUID}, {KindBoardSerial, p.BoardSerial}, {KindCPU, p.CPU}, {KindMemory, p.Memory}, {KindOSInstall, p.OSInstallID}} {
		if f.v != "" && !validHash(f.v) {
			return fmt.Errorf("%s: want %d lower-case hex characters", f.kind, HashLen)
		}
	}
	if len(p.Disks) > MaxDisks || len(p.MACs) > MaxMACs {
		return fmt.Errorf("at most %d disks and %d network cards", MaxDisks, MaxMACs)
	}
	for _, l := range [][]string{p.Disks, p.MACs} {
		for _, v := range l {
			if !validHash(v) {
				return fmt.Errorf("list entries: want %d lower-case hex characters", HashLen)
			}
		}
	}
	// Every value is a valid hash now. A profile that matches itself has
	// an identifying component, hence anchors (see Anchors).
	if !Match(p, p, 0).Same {
		return ErrNoIdentity
	}
	return nil
}

// Anchors returns the identifying component hashes (everything but CPU and
// memory, which many devices share), as bytes, tagged by kind so that equal
// values of different kinds never collide. The server indexes them to find
// a device's earlier activations.
func (p Profile) Anchors() [][]byte {
	var out [][]byte
	add := func(kind byte, v string) {
		if b, err := hex.DecodeString(v); err == nil && len(b) == HashLen/2 {
			out = append(out, append([]byte{kind}, b...))
		}
	}
	if p.SystemUUID != "" {
		add(1, p.SystemUUID)
	}
	if p.BoardSerial != "" {
		add(2, p.BoardSerial)
	}
	for _, d := range p.Disks {
		add(3, d)
	}
	for _, m := range p.MACs {
		add(4, m)
	}
	if p.OSInstallID != "" {
		add(5, p.OSInstallID)
	}
	return out
}

// MaxAnchors bounds Anchors: system UUID, board serial, MaxDisks disks,
// MaxMACs network cards and the OS install id.
const MaxAnchors = 3 + MaxDisks + MaxMACs

// LookupAnchors returns the anchors to find a device's stored activations
// by: the profile's own (Anchors), and first the index anchors of an
// earlier profile of the device, if given (its license's, after a change
// of components that indexes may not share), without repeats and at most
// MaxAnchors.
func LookupAnchors(current Profile, earlier *Profile) [][]byte {
	all := current.Anchors()
	if earlier == nil {
		return all
	}
	out := earlier.IndexAnchors()
	for _, a := range all {
		if !slices.ContainsFunc(out, func(b []byte) bool { return bytes.Equal(a, b) }) {
			out = append(out, a)
		}
	}
	if len(out) > MaxAnchors {
		out = out[:MaxAnchors]
	}
	return out
}

// MaxIndexAnchors is how many anchors the server indexes per activation.
const MaxIndexAnchors = 2

// IndexAnchors returns the anchors the server stores for an activation: the
// most stable ones, at most MaxIndexAnchors (system UUID, then network
// cards, disks, board serial and the OS install id). Lookups use all of a
// profile's Anchors, so a device is found while any indexed component
// remains; writing fewer index rows keeps activations cheap.
func (p Profile) IndexAnchors() [][]byte {
	all := p.Anchors()
	// Anchors lists uuid, board, disks, macs, os; prefer macs over disks.
	var macs, disks, rest [][]byte
	for _, a := range all {
		switch a[0] {
		case 3:
			disks = append(disks, a)
		case 4:
			macs = append(macs, a)
		default:
			rest = append(rest, a)
		}
	}
	// System UUID, then network cards and disks (they survive a reinstall
	// and are readable without administrator rights), then the board
	// serial, then the OS install id.
	var uuid, board, os [][]byte
	for _, a := range rest {
		switch a[0] {
		case 1:
			uuid = append(uuid, a)
		case 2:
			board = append(board, a)
		case 5:
			os = append(os, a)
		}
	}
	var ordered [][]byte
	ordered = append(ordered, uuid...)
	ordered = append(ordered, macs...)
	ordered = append(ordered, disks...)
	ordered = append(ordered, board...)
	ordered = append(ordered, os...)
	if len(ordered) > MaxIndexAnchors {
		ordered = ordered[:MaxIndexAnchors]
	}
	return ordered
}

// Weights of each component kind in the vote (docs/hardware.md).
var Weights = map[string]int{
	KindSystemUUID:  4,
	KindBoardSerial: 2,
	KindMAC:         3,
	KindDisk:        2,
	KindCPU:         2,
	KindMemory:      1,
	KindOSInstall:   1,
}

// MinMatch is the least matched weight for two profiles to be one device.
const MinMatch = 3

// MinKeylessEvidence is the least identifying weight (Verdict.Identifying) a
// device must show to claim its digital license without its key: more than
// one network card's or system UUID's worth, since others may know one
// such value (a MAC is seen on the local network) and the salt is public.
const MinKeylessEvidence = 5

// EnoughWithoutKey reports whether a device matched as v shows enough to
// claim its digital license without its key: identifying weight of at
// least MinKeylessEvidence, part of it from components others cannot see
// from outside the device (v.Unexposed). A MAC address is seen on the
// local network and a system UUID in network-boot requests, so the two
// together, weight 7, are not enough on their own.
func (v Verdict) EnoughWithoutKey() bool {
	return v.Same && v.Identifying >= MinKeylessEvidence && v.Unexposed > 0
}

// Verdict is the outcome of Match.
type Verdict struct {
	Same bool
	// Why is set when Same is false: "board_changed", "too_many_changes"
	// or "too_little_in_common".
	Why     string
	Matched int // weight of components present in both and equal
	// Identifying is the part of Matched that identifies a device (system
	// UUID, board serial, disks, network cards, OS install id): what
	// current shows of being the stored device beyond what many devices
	// share (CPU model, memory size).
	Identifying int
	// Unexposed is the part of Identifying that is not seen from outside
	// the device: board serial, disks, OS install id (unlike network
	// cards' MAC addresses and the system UUID).
	Unexposed int
	Changed   int      // weight of components present in both and different
	Kinds     []string // kinds that changed
}

// unexposed reports whether a component kind is not seen from outside the
// device (Verdict.Unexposed).
func unexposed(kind string) bool {
	return kind == KindBoardSerial || kind == KindDisk || kind == KindOSInstall
}

// SameBoard reports whether current is the stored device after any number
// of component changes: its system board is seen to be the same (the
// system UUID or the board serial present on both sides and equal, and
// neither different) and enough else is in common (Match with no limit on
// what changed). A profile that cannot show its board (read without
// administrator rights, say) never qualifies: a cloned disk image would
// look the same. A device that holds the signed license of such an
// activation may release it, or activate again with its own key.
func SameBoard(stored, current Profile) bool {
	uuid := stored.SystemUUID != "" && stored.SystemUUID == current.SystemUUID
	board := stored.BoardSerial != "" && stored.BoardSerial == current.BoardSerial
	return (uuid || board) && Match(stored, current, math.MaxInt).Same
}

// Match decides whether current is the same device as the stored profile.
// Components missing on either side count neither way. A different system
// UUID or board serial means a different system board, hence a different
// device. Otherwise the device is the same while the changed weight is at
// most tolerance, the matched weight at least MinMatch, and at least one
// identifying component matches.
func Match(stored, current Profile, tolerance int) Verdict {
	var v Verdict
	one := func(kind, a, b string) {
		if a == "" || b == "" {
			return
		}
		if a == b {
			v.Matched += Weights[kind]
			if kind != KindCPU && kind != KindMemory {
				v.Identifying += Weights[kind]
			}
			if unexposed(kind) {
				v.Unexposed += Weights[kind]
			}
			return
		}
		v.Changed += Weights[kind]
		v.Kinds = append(v.Kinds, kind)
	}
	many := func(kind string, a, b []string) {
		if len(a) == 0 || len(b) == 0 {
			return
		}
		for _, x := range a {
			if slices.Contains(b, x) {
				v.Matched += Weights[kind]
				v.Identifying += Weights[kind]
				if unexposed(kind) {
					v.Unexposed += Weights[kind]
				}
				return
			}
		}
		v.Changed += Weights[kind]
		v.Kinds = append(v.Kinds, kind)
	}
	one(KindSystemUUID, stored.SystemUUID, current.SystemUUID)
	one(KindBoardSerial, stored.BoardSerial, current.BoardSerial)
	boardChanged := len(v.Kinds) > 0
	many(KindDisk, stored.Disks, current.Disks)
	many(KindMAC, stored.MACs, current.MACs)
	one(KindCPU, stored.CPU, current.CPU)
	one(KindMemory, stored.Memory, current.Memory)
	one(KindOSInstall, stored.OSInstallID, current.OSInstallID)
	switch {
	case boardChanged:
		v.Why = "board_changed"
	case v.Changed > tolerance:
		v.Why = "too_many_changes"
	case v.Matched < MinMatch || v.Identifying == 0:
		v.Why = "too_little_in_common"
	default:
		v.Same = true
	}
	return v
}
