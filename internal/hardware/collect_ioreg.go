package hardware

// Parsers of macOS ioreg output and interface lists, kept free of build
// tags so that they are tested on every OS.

import (
	"errors"
	"net"
	"strings"
)

// ioregObject holds the properties of one registry object as ioreg prints
// them: the raw text of each value, keyed by property name.
type ioregObject map[string]string

// parseIOReg splits the output of ioreg -r into objects. Each object
// starts with a "+-o Name  <class ...>" line; its properties follow, one
// per line, as "key" = value, possibly behind the "|" characters that draw
// the tree.
func parseIOReg(out string) []ioregObject {
	var objs []ioregObject
	var cur ioregObject
	for line := range strings.Lines(out) {
		t := strings.TrimLeft(strings.TrimRight(line, "\r\n"), " \t|")
		if strings.HasPrefix(t, "+-o") {
			cur = ioregObject{}
			objs = append(objs, cur)
			continue
		}
		if cur == nil || !strings.HasPrefix(t, `"`) {
			continue
		}
		end := strings.IndexByte(t[1:], '"')
		if end < 0 {
			continue
		}
		key := t[1 : 1+end]
		value, ok := strings.CutPrefix(t[2+end:], " = ")
		if !ok {
			continue
		}
		if _, dup := cur[key]; !dup {
			cur[key] = value
		}
	}
	return objs
}

// str returns a string property, or "" if the property is absent or not
// a string.
func (o ioregObject) str(key string) string {
	v := o[key]
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return ""
	}
	return v[1 : len(v)-1]
}

// dictStr returns the string value of key in a dictionary property, which
// ioreg prints on one line: {"Serial Number"="S4EW...","Medium Type"="Solid State"}.
func (o ioregObject) dictStr(prop, key string) string {
	v := o[prop]
	needle := `"` + key + `"="`
	for i := 0; ; {
		j := strings.Index(v[i:], needle)
		if j < 0 {
			return ""
		}
		i += j
		if i > 0 && (v[i-1] == '{' || v[i-1] == ',') {
			rest := v[i+len(needle):]
			if end := strings.IndexByte(rest, '"'); end >= 0 {
				return rest[:end]
			}
			return ""
		}
		i += len(needle)
	}
}

// parsePlatformExpert reads the hardware UUID and the serial number from
// the output of ioreg -rd1 -c IOPlatformExpertDevice.
func parsePlatformExpert(out string) (uuid, serial string, err error) {
	for _, o := range parseIOReg(out) {
		uuid, serial = o.str("IOPlatformUUID"), o.str("IOPlatformSerialNumber")
		if uuid != "" || serial != "" {
			return uuid, serial, nil
		}
	}
	return "", "", errors.New("no IOPlatformUUID or IOPlatformSerialNumber in ioreg output")
}

// parseBlockStorageSerials returns the serials of the internal disks in
// the output of ioreg -rd1 -c IOBlockStorageDevice: objects whose protocol
// characteristics say "Internal" and not "Virtual Interface" (disk images,
// virtual disks), and whose device characteristics hold a serial number.
func parseBlockStorageSerials(out string) []string {
	var serials []string
	for _, o := range parseIOReg(out) {
		if o.dictStr("Protocol Characteristics", "Physical Interconnect Location") != "Internal" ||
			o.dictStr("Protocol Characteristics", "Physical Interconnect") == "Virtual Interface" {
			continue
		}
		if s := strings.TrimSpace(o.dictStr("Device Characteristics", "Serial Number")); s != "" {
			serials = append(serials, s)
		}
	}
	return serials
}

// macOSInterfaceMACs returns the addresses of a Mac's network cards: the
// en* interfaces (Ethernet, Wi-Fi, Thunderbolt ports) with a 6-byte
// hardware address. macOS gives no permanent address without IOKit, so a
// locally administered address (a private Wi-Fi address, a VM's NIC) is
// taken to be randomised and skipped; see chooseMAC.
func macOSInterfaceMACs(ifs []net.Interface) []string {
	var out []string
	for _, ifc := range ifs {
		if !strings.HasPrefix(ifc.Name, "en") || ifc.Flags&net.FlagLoopback != 0 || len(ifc.HardwareAddr) != 6 {
			continue
		}
		if m := chooseMAC("", ifc.HardwareAddr.String(), false); m != "" {
			out = append(out, m)
		}
	}
	return out
}
