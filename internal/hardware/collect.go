package hardware

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// collectTimeout bounds a whole collection, whatever the caller's deadline.
const collectTimeout = 3 * time.Second

// errNone reports a multi-valued component of which no value was found.
var errNone = errors.New("none found")

// Collect reads this device's hardware components.
//
// Every component is optional: a component that cannot be read (in a VM or
// container, or without administrator rights) is left empty and is not an
// error. Collect returns an error only if no component at all could be
// read; on operating systems it does not support, that error wraps
// errors.ErrUnsupported.
//
// Collect is bounded by ctx and by a limit of three seconds: external
// commands (ioreg on macOS) are killed at the deadline, and components not
// read by then are left empty. Native queries (sysfs and procfs files on
// Linux, Win32 calls on Windows) cannot be interrupted, but are local and
// take milliseconds.
//
// The values returned are raw: disk serials and the CPU string are trimmed
// but not otherwise normalised, MAC addresses are lower-case
// aa:bb:cc:dd:ee:ff, and lists are sorted and free of duplicates. Raw.Hash
// normalises and hashes them.
func Collect(ctx context.Context) (Raw, error) {
	ctx, cancel := context.WithTimeout(ctx, collectTimeout)
	defer cancel()
	return result(collect(ctx))
}

// result turns what a per-OS collector returned into Collect's result:
// the tidied components, with the collector's errors dropped unless no
// component at all could be read.
func result(r Raw, err error) (Raw, error) {
	r = tidy(r)
	if !empty(r) {
		return r, nil
	}
	if err == nil {
		err = errors.New("no component could be read")
	}
	return Raw{}, fmt.Errorf("collect hardware: %w", err)
}

// step is one component read by a per-OS collector.
type step struct {
	name string
	read func() error
}

// runSteps reads the components in order and returns the errors of those
// that could not be read, joined. Once ctx is done, the remaining steps are
// skipped and ctx's error is reported once.
func runSteps(ctx context.Context, steps []step) error {
	var errs []error
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if err := s.read(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

// tidy trims the values, normalises MAC addresses, and sorts and
// de-duplicates the lists, so that one device always gives the same Raw.
func tidy(r Raw) Raw {
	r.SystemUUID = strings.TrimSpace(r.SystemUUID)
	r.BoardSerial = strings.TrimSpace(r.BoardSerial)
	r.CPU = strings.Join(strings.Fields(r.CPU), " ")
	r.OSInstallID = strings.TrimSpace(r.OSInstallID)
	r.Disks = sortedSet(r.Disks, strings.TrimSpace)
	r.MACs = sortedSet(r.MACs, NormMAC)
	if r.MemoryGB < 0 || r.MemoryGB != r.MemoryGB {
		r.MemoryGB = 0
	}
	return r
}

// sortedSet returns the non-empty results of norm over values, sorted and
// without duplicates, or nil.
func sortedSet(values []string, norm func(string) string) []string {
	var out []string
	for _, v := range values {
		if v = norm(v); v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// empty reports whether r holds no component at all.
func empty(r Raw) bool {
	return r.SystemUUID == "" && r.BoardSerial == "" && len(r.Disks) == 0 && len(r.MACs) == 0 &&
		r.CPU == "" && r.MemoryGB == 0 && r.OSInstallID == ""
}

// cpuID is a processor's identity, in the same form on every OS so that a
// dual-boot device reports one CPU string.
type cpuID struct {
	vendor   string // "GenuineIntel", "AuthenticAMD"
	name     string // brand string: "Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz"
	family   string
	model    string
	stepping string
}

// String joins the non-empty parts: "GenuineIntel Intel(R) Core(TM)
// i7-8550U CPU @ 1.80GHz family 6 model 142 stepping 10". The nominal
// frequency in a brand string is fixed; the current frequency is never
// part of it.
func (c cpuID) String() string {
	var parts []string
	add := func(label, v string) {
		if v = strings.Join(strings.Fields(v), " "); v == "" {
			return
		}
		if label != "" {
			parts = append(parts, label)
		}
		parts = append(parts, v)
	}
	add("", c.vendor)
	add("", c.name)
	add("family", c.family)
	add("model", c.model)
	add("stepping", c.stepping)
	return strings.Join(parts, " ")
}

// chooseMAC picks the address to report for a network interface. A
// permanent (burnt-in) address wins when the OS gives one. Otherwise the
// current address is used if the OS says it is the permanent one; if the
// OS cannot tell, a locally administered address is taken to be randomised
// (Wi-Fi privacy addresses, USB tethering, user overrides) and skipped.
// Addresses shared by many devices are never reported.
func chooseMAC(permanent, current string, currentIsPermanent bool) string {
	m := NormMAC(permanent)
	if m == "" {
		m = NormMAC(current)
		if m != "" && !currentIsPermanent && locallyAdministered(m) {
			m = ""
		}
	}
	if sharedMACs[m] {
		return ""
	}
	return m
}

// sharedMACs are addresses that many devices have.
var sharedMACs = map[string]bool{
	"ac:de:48:00:11:22": true, // the T2 chip's internal "iBridge" interface on every Intel Mac with a T2
}

// locallyAdministered reports whether a normalised MAC address has the
// locally administered bit set: it was assigned by software, not burnt in
// by the manufacturer.
func locallyAdministered(mac string) bool {
	if len(mac) < 2 {
		return false
	}
	b, err := strconv.ParseUint(mac[:2], 16, 8)
	return err == nil && b&0x02 != 0
}
