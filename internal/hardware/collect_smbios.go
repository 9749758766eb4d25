package hardware

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// smbiosInfo is what the collectors take from the SMBIOS (DMI) table.
type smbiosInfo struct {
	systemUUID  string // type 1, System Information
	boardSerial string // type 2, Baseboard Information
}

// SMBIOS structure types.
const (
	smbiosSystem    = 1
	smbiosBaseboard = 2
	smbiosEnd       = 127
)

// parseRSMB parses the buffer Windows' GetSystemFirmwareTable('RSMB', 0)
// fills: a RawSMBIOSData header (calling method, major and minor version,
// DMI revision, then the table length as a little-endian uint32) followed
// by the SMBIOS structure table.
func parseRSMB(b []byte) (smbiosInfo, error) {
	const header = 8
	if len(b) < header {
		return smbiosInfo{}, fmt.Errorf("smbios: %d bytes, want at least %d", len(b), header)
	}
	major, minor := b[1], b[2]
	n := binary.LittleEndian.Uint32(b[4:8])
	table := b[header:]
	if uint64(n) < uint64(len(table)) {
		table = table[:n]
	}
	return parseSMBIOS(table, major, minor)
}

// parseSMBIOS reads the system UUID and the baseboard serial from an SMBIOS
// structure table of the given version. It never reads past the end of
// the table: a truncated or malformed table yields what was read before
// the damage, and an error only if that is nothing.
func parseSMBIOS(table []byte, major, minor byte) (smbiosInfo, error) {
	var info smbiosInfo
	sawSystem, sawBoard := false, false
	for off := 0; off+4 <= len(table); {
		typ, length := table[off], int(table[off+1])
		if length < 4 || off+length > len(table) {
			break
		}
		formatted := table[off : off+length]
		strs, next, ok := smbiosStrings(table, off+length)
		if !ok {
			break
		}
		switch typ {
		case smbiosSystem:
			// The UUID is at offset 08h in SMBIOS 2.1 and later.
			if !sawSystem && length >= 0x18 {
				info.systemUUID = smbiosUUID(formatted[8:24], major, minor)
			}
			sawSystem = true
		case smbiosBaseboard:
			// The first baseboard is the system board; later ones are
			// add-in cards. Linux's board_serial also reads the first.
			if !sawBoard && length > 7 {
				info.boardSerial = smbiosString(strs, formatted[7])
			}
			sawBoard = true
		case smbiosEnd:
			next = len(table)
		}
		off = next
	}
	if info == (smbiosInfo{}) {
		return info, errors.New("smbios: no system uuid or baseboard serial")
	}
	return info, nil
}

// smbiosStrings returns the strings of the structure whose string set
// starts at off, and the offset of the next structure. The set is a list
// of NUL-terminated strings ended by an extra NUL; a structure without
// strings has two NULs.
func smbiosStrings(table []byte, off int) (strs []string, next int, ok bool) {
	if off+1 < len(table) && table[off] == 0 && table[off+1] == 0 {
		return nil, off + 2, true
	}
	for off < len(table) {
		end := off
		for end < len(table) && table[end] != 0 {
			end++
		}
		if end == len(table) {
			return nil, 0, false
		}
		if end == off { // the empty string ends the set
			return strs, end + 1, true
		}
		strs = append(strs, string(table[off:end]))
		off = end + 1
	}
	return nil, 0, false
}

// smbiosString returns string number i (1-based; 0 means none), trimmed.
func smbiosString(strs []string, i byte) string {
	if i == 0 || int(i) > len(strs) {
		return ""
	}
	return strings.TrimSpace(strs[i-1])
}

// smbiosUUID formats a type 1 UUID. From SMBIOS 2.6 on, its first three
// fields are little-endian, as Linux's product_uuid and dmidecode show
// them; earlier versions are read as stored. All zeros means no UUID, all
// ones a UUID not set; both are returned as is and dropped by Raw.Hash.
func smbiosUUID(u []byte, major, minor byte) string {
	b := [16]byte(u)
	if major > 2 || major == 2 && minor >= 6 {
		b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
		b[4], b[5] = b[5], b[4]
		b[6], b[7] = b[7], b[6]
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
